"""Training: one visible loop over epochs and steps; Lightning Fabric does devices, DDP, precision and I/O.

Each epoch trains on augmented crops, then scores the validation faces (decoded landmarks mapped back to
image pixels, ``h3r.metrics.evaluate_faces``; for people the dataset's pose metric, ``h3r.engine.pose``),
logs (``metrics.csv`` and TensorBoard events in the run folder), and writes ``last.ckpt`` (and ``best.ckpt``
at a new best validation NME, or PCK, PCKh or AP for people) atomically; the ``last.ckpt`` it replaces is
kept as ``previous.ckpt``, which ``--resume`` falls back on (with a warning) should ``last.ckpt`` be missing or
unreadable.

Data: every image of the training and validation faces is decoded once before training, so that a corrupt
one stops the run at the start, naming the file, or with ``data.skip_bad`` is left out with its faces. Faces
left out are always listed and counted.

Reproducibility: every random draw is a function of the seed and the epoch (model init, data order,
augmentation, the codec's randomized rounding), never of the process history, so a run resumed from
``last.ckpt`` repeats what the interrupted epoch would have done. On a CPU with the same thread count the
resumed run ends with bit-identical weights; see ``tests/engine/test_resume.py``.

Distributed: ``trainer.devices=2`` (strategy ``ddp``; gloo on CPU) makes Fabric start the other
processes by re-running the same command line, so train through ``h3r train`` or a script, not from an
interactive session; under ``torchrun`` the processes come from its environment. ``optim.batch_size``
is per process.
"""

import dataclasses
import math
import os
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import yaml
from lightning.fabric import Fabric
from lightning.fabric.loggers import CSVLogger, TensorBoardLogger
from lightning.fabric.plugins.environments import TorchElasticEnvironment
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.data import DataLoader, DistributedSampler

from h3r.codecs import Codec, build_codec
from h3r.data import ImageError, invert, load_image, transform_points
from h3r.data.datasets import DatasetError, FaceDataset, read_dataset
from h3r.data.pose import PoseDataset, PoseTrainingSet
from h3r.data.training_set import FaceTrainingSet
from h3r.engine.checkpoint import (
    checkpoint_metadata,
    copy_atomically,
    initialise_from,
    restore_rng_states,
    rng_states,
    save_atomically,
)
from h3r.engine.config import (
    IMAGENET_INIT,
    ConfigError,
    OptimConfig,
    TrainConfig,
    TrainerConfig,
    holdout,
    validate_config,
)
from h3r.engine.evaluate import face_truth
from h3r.engine.losses import Loss, build_loss
from h3r.engine.pose import pose_report, validation_metric
from h3r.inference.network import decode_output
from h3r.load import load_network
from h3r.metrics.face import evaluate_faces
from h3r.models import LandmarkNet, build_model
from h3r.models.imagenet import initialise_from_imagenet
from h3r.utils.formats import torch_load_problem
from h3r.utils.io import atomic_write_text
from h3r.utils.malloc import tune_allocator

__all__ = ["RUN_FILES", "RunError", "TrainResult", "train"]

RESUME_CHECKPOINTS = ("last.ckpt", "previous.ckpt")
"""The checkpoints ``--resume`` reads, the first readable one."""
RUN_FILES = (*RESUME_CHECKPOINTS, "best.ckpt", "last.ckpt.tmp", "config.yaml", "metrics.csv")
"""What a run folder holds (besides ``events.out.tfevents.*`` and atomic writes' ``.*.tmp*``); ``--force``
deletes exactly these."""

# Keys that may change when a run is resumed: how and where it runs, not what it computes (and a longer schedule).
_RESUMABLE_CHANGES = ("trainer.", "data.workers", "optim.epochs", "output_dir")


class RunError(ValueError):
    """A run folder that cannot be started or resumed, or data that cannot be trained on; says why."""


@dataclass
class TrainResult:
    """What ``train`` returns, in every process.

    Attributes:
        run_dir: the run folder.
        epochs: epochs completed.
        metric: the validation metric's key: ``"nme"`` for faces, ``"pck"``, ``"pckh"`` or ``"ap"`` for people.
        best: its best value (fraction); ``best_epoch`` the epoch (1-based) that reached it.
        history: one dict of logged metrics per epoch.
        model: the trained network (this process's replica), unwrapped from Fabric.
    """

    run_dir: Path
    epochs: int
    metric: str
    best: float
    best_epoch: int
    history: list[dict]
    model: LandmarkNet


def train(
    config: TrainConfig, *, resume: bool = False, force: bool = False, console: Console | None = None
) -> TrainResult:
    """Run the experiment ``config`` (see ``h3r.engine.config``) into ``config.output_dir``.

    Args:
        config: the validated experiment.
        resume: continue from ``output_dir/last.ckpt`` (``previous.ckpt`` if that cannot be read); the config
            may differ only in ``trainer.*``, ``data.workers``, ``optim.epochs`` and ``output_dir`` (a run
            folder may be moved or copied).
        force: start afresh in an existing run folder, deleting its checkpoints and logs (``RUN_FILES``).
        console: where rank 0 prints; default stdout.

    Raises:
        RunError: the run folder is in use (neither ``resume`` nor ``force``), there is nothing to resume,
            a dataset is missing or empty or has an unreadable image, or the training loss stops being finite.
        ConfigError: a resumed run whose config changed in other keys.
    """
    tune_allocator()
    try:
        fabric = Fabric(**_fabric_arguments(config.trainer))
    except (RuntimeError, ValueError) as error:  # e.g. accelerator=cuda on a machine without a GPU
        raise ConfigError(f"trainer: {error}") from None
    fabric.launch()
    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)
    console = console or Console()
    console.quiet = not fabric.is_global_zero
    say = partial(console.print, soft_wrap=True, markup=False, highlight=False)
    run_dir = Path(config.output_dir)
    _on_rank_zero(fabric, partial(_prepare_run_dir, run_dir, resume, force))
    fabric.seed_everything(config.seed, verbose=False)
    if config.trainer.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False

    train_faces, val_faces = _with_readable_images(config, *load_faces(config))
    _report_skipped(say, train_faces, val_faces)
    codec = build_codec(config.codec.name, **config.codec_settings())
    train_loader, val_loader = build_loaders(config, train_faces, val_faces, codec, fabric)
    train_set = train_loader.dataset
    model = build_model(
        config.model.backbone,
        num_landmarks=train_faces.scheme.num_landmarks,
        head=config.head,
        output_stride=config.model.output_stride,
        width_mult=config.model.width_mult,
        head_channels=config.model.head_channels,
    )
    if config.model.init and not resume:
        try:
            if config.model.init == IMAGENET_INIT:
                copied, fresh = initialise_from_imagenet(model, config.model.backbone, config.model.width_mult)
            else:
                copied, fresh = initialise_from(model, load_network(config.model.init), config.model.init)
        except ValueError as error:
            raise RunError(f"model.init: {error}") from None
        fresh_names = ", ".join(fresh) or "none"
        say(f"initialised {copied} of {copied + len(fresh)} tensors from {config.model.init}; fresh: {fresh_names}")
    memory_format = torch.channels_last if config.trainer.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = build_optimizer(config.optim, model)
    steps_per_epoch = len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, partial(learning_rate_factor, optim=config.optim, steps_per_epoch=steps_per_epoch)
    )
    model, optimizer = fabric.setup(model, optimizer)
    train_loader, val_loader = fabric.setup_dataloaders(train_loader, val_loader, use_distributed_sampler=False)
    criterion = build_loss(config.loss_name, codec)

    metric = validation_metric(train_faces)
    best_key = f"best_{metric.key}"  # best_nme for faces
    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    worst = -math.inf if metric.higher_is_better else math.inf
    progress = {"epoch": 0, best_key: worst, "best_epoch": 0, "history": []}
    if resume:
        saved = _load_saved_run(fabric, run_dir, state, say)
        _check_resumable(saved["config"], config)
        restore_rng_states(saved["rng"])
        progress = {key: saved[key] for key in progress}
        say(f"resuming {run_dir} after epoch {progress['epoch']} (best {metric.label} {progress[best_key]:.4%})")
    metadata = checkpoint_metadata(config, train_faces.scheme)
    if fabric.is_global_zero:
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    tensorboard, csv = open_loggers(run_dir, steps_per_epoch, progress["history"])
    say(
        f"{len(train_faces)} training {_kind(train_faces)}, {len(val_faces)} validation {_kind(val_faces)}; "
        f"{config.model.backbone} "
        f"({config.head} head) at {config.data.input_size} px, codec {config.codec.name}, loss {config.loss_name}; "
        f"{fabric.world_size} process(es) on {fabric.device}"
    )

    for epoch in range(progress["epoch"], config.optim.epochs):
        started = time.perf_counter()
        train_set.set_epoch(epoch)  # the augmentation's and, through EpochSampler, the data order's epoch
        model.train()
        loss_sum = torch.zeros((), device=fabric.device)
        with _progress_bar(console) as bar:
            task = bar.add_task(f"epoch {epoch + 1}/{config.optim.epochs}", total=steps_per_epoch, loss=math.nan)
            for step, batch in enumerate(train_loader):
                output = model(batch["image"].contiguous(memory_format=memory_format))
                loss = criterion(output, batch["targets"], batch["weights"])
                optimizer.zero_grad(set_to_none=True)
                fabric.backward(loss)
                if config.optim.grad_clip:
                    fabric.clip_gradients(model, optimizer, max_norm=config.optim.grad_clip)
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach()
                global_step = epoch * steps_per_epoch + step + 1
                if global_step % config.trainer.log_every == 0:
                    value = _finite_loss(loss, epoch, step)
                    bar.update(task, loss=value)
                    tensorboard.log_metrics({"train/loss": value, "train/lr": scheduler.get_last_lr()[0]}, global_step)
                bar.advance(task)
        train_seconds = time.perf_counter() - started
        train_loss = _finite_loss(fabric.all_reduce(loss_sum / steps_per_epoch, reduce_op="mean"), epoch, step)
        scores, val_loss = validate(fabric, model, val_loader, criterion, codec, val_faces, memory_format)

        row = {
            "epoch": epoch + 1,
            "lr": scheduler.get_last_lr()[0],
            "train_loss": train_loss,
            "val_loss": val_loss,
            **{f"val_{key}": value for key, value in scores.items() if isinstance(value, float)},
            "seconds": time.perf_counter() - started,
            "train_images_per_s": steps_per_epoch * config.optim.batch_size * fabric.world_size / train_seconds,
        }
        progress["history"].append(row)
        value = row[f"val_{metric.key}"]
        is_best = metric.improves(value, progress[best_key])
        if is_best:
            progress.update({best_key: value, "best_epoch": epoch + 1})
        progress["epoch"] = epoch + 1
        for logger in (tensorboard, csv):
            logger.log_metrics(row, step=(epoch + 1) * steps_per_epoch)
            logger.save()
        checkpoint = {**metadata, **state, **progress, "rng": rng_states()}
        save_atomically(fabric, run_dir / "last.ckpt", checkpoint, previous=run_dir / "previous.ckpt")
        if is_best and fabric.is_global_zero:
            copy_atomically(run_dir / "last.ckpt", run_dir / "best.ckpt")
        say(
            f"epoch {epoch + 1}/{config.optim.epochs}: train loss {train_loss:.4g}, val loss {val_loss:.4g}, "
            f"val {metric.label} {value:.4%}{' (best)' if is_best else ''}, {row['seconds']:.1f} s "
            f"({row['train_images_per_s']:.1f} training images/s)"
        )

    for logger in (tensorboard, csv):
        logger.finalize("success")
    say(
        f"best validation {metric.label} {progress[best_key]:.4%} at epoch {progress['best_epoch']}; run in {run_dir}"
    )
    return TrainResult(
        run_dir,
        progress["epoch"],
        metric.key,
        progress[best_key],
        progress["best_epoch"],
        progress["history"],
        model.module,
    )


def _kind(faces: FaceDataset) -> str:
    return "people" if isinstance(faces, PoseDataset) else "faces"


def _report_skipped(say, *datasets: FaceDataset) -> None:
    """Print each face left out as bad (``data.skip_bad``) and how many there were."""
    skipped = [entry for faces in datasets for entry in faces.skipped]
    for where, why in skipped:
        say(f"skipped {where}: {why}")
    if skipped:
        say(f"skipped {len(skipped)} bad {_kind(datasets[0])} (data.skip_bad)")


@torch.no_grad()
def validate(
    fabric: Fabric,
    model: torch.nn.Module,
    loader: DataLoader,
    criterion: Loss,
    codec: Codec,
    faces: FaceDataset,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> tuple[dict, float]:
    """Score the validation faces: NME, FR and AUC (``evaluate_faces``) of the landmarks in image pixels; for
    people, the dataset's pose metric (``h3r.engine.pose.pose_report``).

    The crops are the plain ones (no augmentation); landmarks are decoded as ``DecodingNetwork`` does
    (from the foreground logits of a binary head), without the flip test, and mapped back to the image
    through the inverse of each crop's ``matrix``. Every process scores its share; the results are
    gathered, so every process returns the same numbers.

    Returns:
        ``(scores, loss)``: the ``evaluate_faces`` (or ``pose_report``) dict and the validation loss (mean
        over batches).
    """
    model.eval()
    loss_sum, batches, indices, points, confidences = torch.zeros((), device=fabric.device), 0, [], [], []
    for batch in loader:
        output = model(batch["image"].contiguous(memory_format=memory_format))
        loss_sum += criterion(output, batch["targets"], batch["weights"])
        batches += 1
        keypoints, keypoint_scores = decode_output(output.float(), codec)
        to_image = torch.from_numpy(invert(batch["matrix"].cpu().numpy()))  # (B, 3, 3), crop → image
        points.append(transform_points(to_image, keypoints.cpu().double()))  # (B, K, 2) image pixels
        confidences.append(keypoint_scores.cpu().double())  # (B, K)
        indices.append(batch["index"].cpu())
    loss = fabric.all_reduce(loss_sum / batches, reduce_op="mean").item()
    count, k = len(faces), faces.scheme.num_landmarks
    # the sampler pads each process's share to equal length with repeats; keep one prediction per face
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "torch.distributed.nn.functional.all_gather is deprecated")
        gathered_points = fabric.all_gather(torch.cat(points).to(fabric.device)).reshape(-1, k, 2).cpu()
        gathered_scores = fabric.all_gather(torch.cat(confidences).to(fabric.device)).reshape(-1, k).cpu()
        gathered_indices = fabric.all_gather(torch.cat(indices).to(fabric.device)).reshape(-1).cpu()
    predictions = torch.empty(count, k, 2, dtype=torch.float64)
    predictions[gathered_indices] = gathered_points
    if isinstance(faces, PoseDataset):
        scores = torch.empty(count, k, dtype=torch.float64)
        scores[gathered_indices] = gathered_scores
        return pose_report(predictions.numpy(), scores.numpy(), faces), loss
    return evaluate_faces(predictions.numpy(), **face_truth(faces)), loss


def load_faces(config: TrainConfig) -> tuple[FaceDataset, FaceDataset]:
    """The training and validation faces: ``data.val``, or the ``data.val_split`` part held out of ``data.train``.

    The faces left out as bad (``data.skip_bad``) are in the training part's ``skipped`` for a held-out split.

    Raises:
        RunError: a dataset that cannot be read or has no faces, naming the config key; a validation set in
            another landmark scheme; a held-out split leaving either part empty.
    """
    data = config.data
    train_faces = read_faces("data.train", data.train, data.skip_bad)
    if data.val is not None:
        val_faces = read_faces("data.val", data.val, data.skip_bad)
        if val_faces.scheme != train_faces.scheme:
            raise RunError(
                f"data.val: {data.val} has {val_faces.scheme.name} landmarks, data.train {train_faces.scheme.name}"
            )
        return train_faces, val_faces
    paths = [Path(sample.image_path).resolve() for sample in train_faces]
    root = Path(os.path.commonpath([path.parent for path in paths]))
    train_index, val_index = holdout(len(paths), data.val_split, [path.relative_to(root).as_posix() for path in paths])
    if not train_index or not val_index:
        raise RunError(
            f"data.val_split: {data.val_split} of the {len(paths)} faces of {data.train} leaves "
            f"{len(train_index)} for training and {len(val_index)} for validation; both need at least one"
        )
    train = _subset(train_faces, train_index, "train", train_faces.skipped)
    return train, _subset(train_faces, val_index, data.val_split, [])


def read_faces(key: str, spec: str, skip_bad: bool) -> FaceDataset:
    """``read_dataset(spec)``, with errors and empty datasets reported under the config ``key``."""
    try:
        faces = read_dataset(spec, skip_bad=skip_bad)
    except DatasetError as error:
        raise RunError(f"{key}: {error}") from None
    if len(faces) == 0:
        skipped = f" (all {len(faces.skipped)} skipped as bad, e.g. {faces.skipped[0][0]}: {faces.skipped[0][1]})"
        raise RunError(f"{key}: {spec} has no faces{skipped if faces.skipped else ''}")
    return faces


def _with_readable_images(
    config: TrainConfig, train_faces: FaceDataset, val_faces: FaceDataset
) -> tuple[FaceDataset, FaceDataset]:
    """``readable_faces`` of the training and validation faces, or a ``RunError`` naming the config key."""
    data, checked = config.data, []
    for faces, key in ((train_faces, "data.train"), (val_faces, "data.val" if config.data.val else "data.train")):
        try:
            checked.append(readable_faces(faces, data.skip_bad, data.exif_transpose))
        except ImageError as error:
            raise RunError(f"{key}: {error} (data.skip_bad=true leaves out its faces)") from None
        if len(checked[-1]) == 0:
            raise RunError(f"{key}: no {_kind(faces)} with a readable image")
    return checked[0], checked[1]


def readable_faces(faces: FaceDataset, skip_bad: bool, exif_transpose: bool = True) -> FaceDataset:
    """``faces``, each of whose image files was decoded once (not just opened): a corrupt or truncated image
    is found before training, not in the middle of an epoch.

    Raises:
        ImageError: the first image that cannot be decoded, naming it; with ``skip_bad`` its faces are left
            out instead and added to ``skipped``, one entry per face.
    """
    problems = {}
    for path in dict.fromkeys(sample.image_path for sample in faces if sample.image is None):
        try:
            load_image(path, exif_transpose=exif_transpose)
        except ImageError as error:
            if not skip_bad:
                raise
            problems[path] = str(error).removeprefix(f"{path}: ")
    if not problems:
        return faces
    bad = [sample for sample in faces if sample.image is None and sample.image_path in problems]
    samples = [sample for sample in faces if not (sample.image is None and sample.image_path in problems)]
    skipped = [*faces.skipped, *((str(sample.image_path), problems[sample.image_path]) for sample in bad)]
    return dataclasses.replace(faces, samples=samples, skipped=skipped)


def _subset(faces: FaceDataset, indices: list[int], part: str, skipped: list[tuple[str, str]]) -> FaceDataset:
    """The ``indices`` samples of ``faces`` (a ``PoseDataset`` stays one), named after ``part``, with ``skipped``."""
    samples = [faces.samples[i] for i in indices]
    return dataclasses.replace(faces, name=f"{faces.name}[{part}]", samples=samples, skipped=skipped)


def build_loaders(
    config: TrainConfig, train_faces: FaceDataset, val_faces: FaceDataset, codec: Codec, fabric: Fabric
) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders, each with this process's ``EpochSampler`` (one process too).

    Training shuffles with a permutation seeded by ``(seed, epoch)`` and drops the last partial batch;
    validation keeps the order and pads the processes' shares to equal length. People are cropped by
    ``PoseTrainingSet`` from their boxes (``data.box`` must be ``dataset``).
    """
    data = config.data
    exif = data.exif_transpose
    is_pose = isinstance(train_faces, PoseDataset)
    if is_pose and data.box != "dataset":
        raise RunError(f"data.box: people are cropped from their person boxes; set data.box: dataset, not {data.box}")
    sets = []
    for faces, augment in ((train_faces, config.augment), (val_faces, None)):
        try:
            if is_pose:
                sets.append(PoseTrainingSet(faces, data.size, codec, data.crop_scale, augment, config.seed, exif))
            else:
                sets.append(
                    FaceTrainingSet(faces, data.size, codec, data.crop_scale, augment, data.box, config.seed, exif)
                )
        except ValueError as error:
            raise RunError(f"data.{'box' if not is_pose else 'train'}: {error}") from None
    if len(sets[0]) < config.optim.batch_size * fabric.world_size:
        raise RunError(
            f"optim.batch_size: {config.optim.batch_size} per process × {fabric.world_size} process(es) is more "
            f"than the {len(sets[0])} training faces"
        )
    loaders = []
    for dataset, shuffle in ((sets[0], True), (sets[1], False)):
        sampler = EpochSampler(
            dataset, fabric.world_size, fabric.global_rank, shuffle=shuffle, seed=config.seed, drop_last=shuffle
        )
        loaders.append(
            DataLoader(
                dataset,
                batch_size=config.optim.batch_size,
                sampler=sampler,
                num_workers=data.workers,
                drop_last=shuffle,
                pin_memory=fabric.device.type == "cuda",
            )
        )
    return loaders[0], loaders[1]


class EpochSampler(DistributedSampler):
    """This process's share of a ``FaceTrainingSet``, shuffled by ``(seed, dataset.epoch)``.

    Fabric's loader sets a ``DistributedSampler``'s epoch to the number of passes made over it, which
    restarts at 0 in a resumed run; reading the dataset's epoch keeps data order and augmentation in step.
    """

    def __iter__(self):
        self.epoch = self.dataset.epoch
        return super().__iter__()


def build_optimizer(optim: OptimConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Adam or AdamW over all parameters (``optim.weight_decay`` is L2 for Adam, decoupled for AdamW)."""
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optim.name]
    return kind(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)


def learning_rate_factor(step: int, optim: OptimConfig, steps_per_epoch: int) -> float:
    """Multiplier of ``optim.lr`` for optimizer step ``step`` (0-based): linear warm-up, then the schedule.

    Warm-up rises linearly to 1 over ``warmup_epochs``; ``step`` multiplies by ``gamma`` at each milestone
    epoch; ``cosine`` falls from 1 to ``final_lr_ratio`` between the end of the warm-up and the last epoch.

    Examples:
        >>> optim = OptimConfig(epochs=4, warmup_epochs=1, milestones=[2], gamma=0.1)
        >>> [round(learning_rate_factor(step, optim, steps_per_epoch=2), 3) for step in range(8)]
        [0.5, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1]
    """
    warmup_steps = optim.warmup_epochs * steps_per_epoch
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    epoch = step / steps_per_epoch
    if optim.schedule == "step":
        return optim.gamma ** sum(epoch >= milestone for milestone in optim.milestones)
    if optim.schedule == "cosine":
        done = (step - warmup_steps) / max(optim.epochs * steps_per_epoch - warmup_steps, 1)
        return optim.final_lr_ratio + (1 - optim.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * done))
    return 1.0


def open_loggers(run_dir: Path, steps_per_epoch: int, history: list[dict]) -> tuple[TensorBoardLogger, CSVLogger]:
    """TensorBoard (per-step and per-epoch values) and CSV (per-epoch rows) loggers writing into ``run_dir``.

    A resumed run continues after ``len(history)`` epochs: TensorBoard hides the events the interrupted
    epoch logged after that, and ``metrics.csv`` is rewritten from ``history`` (the checkpoint's rows),
    so both match an uninterrupted run.
    """
    done = len(history) * steps_per_epoch
    tensorboard = TensorBoardLogger(run_dir, name="", version="", purge_step=done + 1 if history else None)
    csv = CSVLogger(run_dir, name="", version="", flush_logs_every_n_steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "logs directory exists": the run folder holds the checkpoints too
        csv.experiment  # noqa: B018 (creates the writer, which deletes the old metrics.csv)
    for row in history:
        csv.log_metrics(row, step=row["epoch"] * steps_per_epoch)
    return tensorboard, csv


def _fabric_arguments(trainer: TrainerConfig) -> dict:
    """``Fabric`` arguments; under ``torchrun`` the device count is its per-node process count.

    Raises:
        ConfigError: ``trainer.devices`` disagrees with torchrun's ``--nproc_per_node``.
    """
    devices, num_nodes = trainer.devices, 1
    if TorchElasticEnvironment.detect():
        local = int(os.environ["LOCAL_WORLD_SIZE"])
        if devices not in ("auto", local):
            raise ConfigError(f"trainer.devices={devices} but torchrun started {local} process(es) per node")
        devices, num_nodes = local, int(os.environ["WORLD_SIZE"]) // local
    return {
        "accelerator": trainer.accelerator,
        "devices": devices,
        "num_nodes": num_nodes,
        "strategy": trainer.strategy,
        "precision": trainer.precision,
    }


def _on_rank_zero(fabric: Fabric, action) -> None:
    """Run ``action`` on rank 0 only; if it raises, raise the same message in every process (none hangs)."""
    problem = None
    if fabric.is_global_zero:
        try:
            action()
        except (RunError, ConfigError) as error:
            problem = (type(error), str(error))
    problem = fabric.broadcast(problem, src=0)
    if problem is not None:
        kind, message = problem
        raise kind(message)


def _prepare_run_dir(run_dir: Path, resume: bool, force: bool) -> None:
    """Check that ``run_dir`` can be started (empty or absent, or cleared with ``force``) or resumed."""
    if resume and force:
        raise RunError("give either --resume (continue the run) or --force (start it afresh), not both")
    if resume:
        if not any((run_dir / name).is_file() for name in RESUME_CHECKPOINTS):
            raise RunError(f"cannot resume: {run_dir / 'last.ckpt'} not found")
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"output_dir: {run_dir} is a file, not a folder")
    existing = sorted(path.name for path in run_dir.iterdir()) if run_dir.is_dir() else []
    if existing and not force:
        shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
        raise RunError(
            f"output_dir: {run_dir} already exists and is not empty ({shown}); continue that run with --resume, "
            "start it afresh with --force (deletes its checkpoints and logs), or choose another output_dir"
        )
    for name in existing:
        if name in RUN_FILES or name.startswith("events.out.tfevents.") or _is_temporary(name):
            (run_dir / name).unlink()
    run_dir.mkdir(parents=True, exist_ok=True)


def _is_temporary(name: str) -> bool:
    """Whether a run folder's file is a temporary file an atomic write left behind (``h3r.utils.io``)."""
    return name.startswith(tuple(f".{file}." for file in RUN_FILES)) and ".tmp" in name


def _load_saved_run(fabric: Fabric, run_dir: Path, state: dict, say) -> dict:
    """Load the run's ``last.ckpt`` into ``state`` (model, optimizer, scheduler) and return the rest of it;
    when ``last.ckpt`` is missing or unreadable (damaged, truncated), fall back on ``previous.ckpt``, the
    checkpoint of the epoch before, with a warning.

    Raises:
        RunError: neither can be read, naming both and why.
    """
    problems = []
    for path in (run_dir / name for name in RESUME_CHECKPOINTS):
        if not path.is_file():
            problems.append(f"{path}: not found")
            continue
        try:
            saved = fabric.load(path, state, weights_only=True)
        except Exception as error:  # noqa: BLE001 (torch and Fabric raise many types for damaged files)
            problems.append(f"{path}: {torch_load_problem(error)}")
            continue
        if problems:
            say(f"warning: {'; '.join(problems)}; resuming from {path} instead")
        return saved
    raise RunError(f"cannot resume {run_dir}: {'; '.join(problems)}")


def _check_resumable(saved: dict, config: TrainConfig) -> None:
    """Refuse to resume with a config that changed in what the run computes.

    The saved config is validated first, so that keys added to h3r since it was written take their defaults.
    """
    before = validate_config(saved, source="the config in the run's checkpoint").to_dict()
    changed = [key for key in _differences(before, config.to_dict()) if not key.startswith(_RESUMABLE_CHANGES)]
    if changed:
        raise ConfigError(
            f"cannot resume with a different config: {', '.join(changed)} changed since the run started "
            "(only trainer.*, data.workers, optim.epochs and output_dir may); use the run's config.yaml"
        )


def _differences(old, new, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [key for name in keys for key in _differences(old.get(name), new.get(name), f"{prefix}{name}.")]
    return [] if old == new else [prefix.rstrip(".")]


def _finite_loss(loss: torch.Tensor, epoch: int, step: int) -> float:
    value = loss.item()
    if not math.isfinite(value):
        raise RunError(f"the training loss is {value} at epoch {epoch + 1}, step {step + 1}; try a lower optim.lr")
    return value


def _progress_bar(console: Console) -> Progress:
    """A bar of the epoch's steps with the last logged loss, on terminals only (log files get the epoch lines)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4g}"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, transient=True, disable=console.quiet or not console.is_terminal)
