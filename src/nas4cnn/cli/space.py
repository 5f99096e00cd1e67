"""`nas4cnn space`: the search space, its size and Nmax, at once for the bundled digits.

For the bundled digits with their default settings the shape and the classes are known
without loading the images (`BUNDLED`), and the parameters are counted without PyTorch
(`core.params`), so the command answers in a fraction of a second. Any other data set is
loaded through the API (`api.space_info`) to learn its shape; the output is the same.
"""

from __future__ import annotations

import argparse
import json

from nas4cnn.cli.flags import config_from_args
from nas4cnn.core.config import DataConfig, RunConfig
from nas4cnn.core.params import check_features, max_params
from nas4cnn.core.spaces import describe

# The data sets whose shape is known without loading them: name -> (input shape C x H x W,
# classes). scikit-learn's 8x8 digits, 16 grey levels, ten classes; tests/test_cli.py checks
# this against the loaded data set. (To move to the data sources' registry, `nas4cnn.data.sources`.)
BUNDLED = {"digits": ((1, 8, 8), 10)}


def space_info(config: RunConfig) -> dict | None:
    """What `api.space_info(config)` gives, without loading the data; None where the data set's
    shape is known only once loaded (another data set, or digits with settings of their own)."""
    if config.data != DataConfig(dataset=config.data.dataset) or config.data.dataset not in BUNDLED:
        return None
    from nas4cnn.nn.activations import (
        check_activation_names,  # a registry without PyTorch
    )

    input_shape, num_classes = BUNDLED[config.data.dataset]
    check_activation_names(config.space.activation)
    check_features(config.space, input_shape)
    return {
        **describe(config.space),
        "dataset": config.data.dataset,
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "nmax": max_params(config.space, input_shape, num_classes),
    }


def print_space(info: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(info))
        return
    pad = max(11, *(len(g) + 1 for g in info["genes"]))
    if info.get("space") not in (None, "seed"):
        print(f"{'space':<{pad}} {info['space']}")
    for gene, choices in info["genes"].items():
        print(f"{gene:<{pad}} {', '.join(map(str, choices))}")
    what = "architectures" if info.get("space") in (None, "seed", "custom") else "genotypes (fewer distinct networks)"
    print(f"{'size':<{pad}} {info['size']:,} {what}")
    if info.get("max_params"):
        print(f"{'max params':<{pad}} {info['max_params']:,} (larger networks are not trained)")
    shape = "x".join(map(str, info["input_shape"]))
    print(f"{'Nmax':<{pad}} {info['nmax']:,} parameters ({info['dataset']}: {shape} inputs, "
          f"{info['num_classes']} classes)")


def space(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    info = space_info(config)
    if info is None:  # the data set is loaded to learn its shape: through the API (PyTorch)
        from nas4cnn import api

        info = api.space_info(config)
    print_space(info, args.json)
