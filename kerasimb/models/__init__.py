"""kerasimb.models: backbones and model builders."""
