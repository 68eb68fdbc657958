"""MTI-Net (Vandenhende, Georgoulis, Van Gool, ECCV 2020). Importing this package registers the model."""
