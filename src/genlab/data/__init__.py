"""Datasets (built-in, toy and user files), pixel transforms and a resumable data order."""
from genlab.data.builtin import mnist_file
from genlab.data.dataset import Dataset, DatasetInfo
from genlab.data.order import batch_indices, epoch_permutation
from genlab.data.registry import USER_SOURCES, known_names, list_datasets, load_dataset
from genlab.data.toy import TOY_SETS, sample_toy, toy_modes
from genlab.data.transforms import to_float, to_uint8

__all__ = [
    "Dataset", "DatasetInfo", "TOY_SETS", "USER_SOURCES", "batch_indices", "epoch_permutation", "known_names",
    "list_datasets", "load_dataset", "mnist_file", "sample_toy", "to_float", "to_uint8", "toy_modes",
]
