"""Classification data: prepare a source (generated shapes, digits, CIFAR-10, an image folder) into a
directory with :func:`prepare_classification`, then read it with :func:`open_classification`."""

from .dataset import TensorClassification, dataset_info, image_batch, open_classification
from .errors import DataError
from .generated import SHAPES, generate_shapes
from .prepare import prepare_classification
from .sources import SOURCES

__all__ = ["SHAPES", "SOURCES", "DataError", "TensorClassification", "dataset_info", "generate_shapes",
           "image_batch", "open_classification", "prepare_classification"]
