"""Face data: one in-memory representation (:class:`FaceSet`), FER2013 loaders, synthetic faces."""
from .faces import (EMOTION_FOLDERS, EMOTIONS, FER2013_SPLIT_SIZES, IMAGE_SIZE, NUM_CLASSES, SPLITS,
                    DataError, FaceSet)
from .fer2013 import load_fer2013, load_fer2013_csv, load_fer2013_folders, load_ferplus
from .registry import DATASETS, load_dataset
from .synthetic import AUS, DEFINING_REGIONS, EMOTION_AUS, make_synthetic_faces

__all__ = ["AUS", "DATASETS", "DEFINING_REGIONS", "EMOTIONS", "EMOTION_AUS", "EMOTION_FOLDERS",
           "FER2013_SPLIT_SIZES", "IMAGE_SIZE", "NUM_CLASSES", "SPLITS", "DataError", "FaceSet",
           "load_dataset", "load_fer2013", "load_fer2013_csv", "load_fer2013_folders", "load_ferplus",
           "make_synthetic_faces"]
