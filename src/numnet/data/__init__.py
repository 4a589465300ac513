"""Data: the IDX format, the bundled MNIST, splits, toy 2-D sets, augmentation and digit images.

Conventions: examples are rows (X has shape (n, features)), class labels are int64 indices of shape (n,),
and the float dtype is always passed explicitly (default float32). Nothing here knows about networks.
"""
from .augment import affine_images, expand_shifts, random_affine
from .idx import read_idx, write_idx
from .images import digit_to_image, load_digit, load_digits
from .mnist import load_mnist, load_mnist_raw, mnist_dir
from .shifts import SHIFTS, flip_labels, load_labelled, shift_images
from .splits import one_hot, train_dev_split, train_val_test_split
from .toy import course_moons, make_circles, make_flower, make_moons, make_random_regression, make_spirals

__all__ = [
    "read_idx", "write_idx", "mnist_dir", "load_mnist_raw", "load_mnist", "one_hot", "train_val_test_split",
    "make_moons", "course_moons", "make_circles", "make_spirals", "make_flower", "expand_shifts",
    "affine_images", "random_affine", "load_digit", "load_digits", "digit_to_image", "make_random_regression", "train_dev_split",
    "flip_labels", "shift_images", "SHIFTS", "load_labelled",
]
