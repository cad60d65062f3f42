"""genlab's MNIST classifier as a trainable family (`family`) and the export of its weights (`export`)."""
