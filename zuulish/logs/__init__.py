"""Build logs: where they are kept (a local directory or an S3 bucket), how a
build's logs get there, how they are read back, and the live console's
authentication between components."""
