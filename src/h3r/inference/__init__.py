"""Running landmark models on whole images: finding the faces, then their landmarks."""
