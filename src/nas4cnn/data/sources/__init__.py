"""Loaders for the named and the user's own data sets; `nas4cnn.data.dataset.load_dataset` dispatches here.

- `idx`: MNIST, Fashion-MNIST, KMNIST from IDX files;
- `cifar`: CIFAR-10 from its Python batches;
- `folder`: one sub-folder of images per class;
- `npz`: NumPy arrays;
- `download`: cache folders and checksum-verified downloads of the official files;
- `splits`: the seeded, stratified hold-out splits.
"""
