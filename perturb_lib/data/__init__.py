"""Face data: one in-memory representation (:class:`FaceSet`), FER2013 loaders, synthetic faces, published MaskFer."""
from .faces import (EMOTION_FOLDERS, EMOTIONS, FER2013_SPLIT_SIZES, IMAGE_SIZE, NUM_CLASSES, SPLITS,
                    DataError, FaceSet, pick_per_emotion)
from .fer2013 import load_fer2013, load_fer2013_csv, load_fer2013_folders, load_ferplus
from .maskfer import MaskFerPairs, load_maskfer_folders, load_maskfer_list
from .registry import DATASETS, defining_regions, load_dataset
from .synthetic import AUS, EMOTION_AUS, make_synthetic_faces

__all__ = ["AUS", "DATASETS", "EMOTIONS", "EMOTION_AUS", "EMOTION_FOLDERS",
           "FER2013_SPLIT_SIZES", "IMAGE_SIZE", "NUM_CLASSES", "SPLITS", "DataError", "FaceSet", "MaskFerPairs",
           "load_dataset", "load_fer2013", "load_fer2013_csv", "load_fer2013_folders", "load_ferplus",
           "defining_regions", "load_maskfer_folders", "load_maskfer_list", "make_synthetic_faces", "pick_per_emotion"]
