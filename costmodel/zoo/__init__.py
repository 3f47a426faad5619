"""The model zoo: model families written in this project, NAS-Bench-201 cells, random networks.

Importing this package registers every family. A new family is one module here that calls
:func:`costmodel.zoo.registry.register`, plus its import line below.
"""

# Family modules register themselves on import: a new family adds its name to this list.
from costmodel.zoo import (  # noqa: F401
    convnext,
    densenet,
    efficientnet,
    googlenet,
    inception,
    mobilenet,
    mobilenetv2,
    mobilenetv3,
    regnet,
    resnet,
    resnext,
    senet,
    shufflenet,
    shufflenetv2,
    squeezenet,
    vgg,
    vit,
    xception,
)
from costmodel.zoo.registry import ModelEntry, entries, register, register_alias, resolve_name
from costmodel.zoo.specs import ModelSpec, build, family, input_shape, parse

__all__ = [
    "ModelEntry",
    "ModelSpec",
    "build",
    "entries",
    "family",
    "input_shape",
    "parse",
    "register",
    "register_alias",
    "resolve_name",
]
