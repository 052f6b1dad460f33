"""Run configuration: typed dataclasses read from YAML, with one documented precedence.

A run is configured by layers, merged in this order (**later wins**):

1. the dataclass defaults (each documented once, in its class docstring);
2. the **protocol** file (``configs/protocol.yaml`` by default): data, splits, epochs, batch size,
   seed, selection metric — everything that must be identical for every detector in a comparison;
3. the **detector** file (``configs/detectors/<name>.yaml``): ``detector`` (model and backbone),
   ``loss``, ``optimizer``, ``scheduler``;
4. command-line overrides ``--set key.sub=value`` (the value is parsed as YAML: ``--set
   train.epochs=5``, ``--set loss.alpha=0.8``, ``--set data.train_datasets=[A,B]``). A number in
   the path picks one item of a list, counting from 0: ``--set loss.terms.0.alpha=0.8`` changes
   the first term of a ``composite`` loss and keeps the others (an index past the end is an error
   naming the list's length).

**One merge rule**, for layers, ``_base_`` files and DeepfakeBench's ``dfshield:`` section alike:
mappings merge key by key and the later one wins, except that a mapping is *replaced* whole when
its ``name`` changes (a registry section: ``detector``, ``backbone``, ``loss``, ``optimizer``, ...)
or when it says ``_delete_: true``. So ``--set loss.name=bce`` over spcup gives ``{name: bce}``,
not bce with composite's ``terms``; ``--set loss.terms.0.alpha=0.8`` keeps the term's other
options; ``loss: {_delete_: true, name: vs, ...}`` drops the inherited ``vs`` options.

**Inheritance.** A YAML file may start from other files, ``_base_: ../detectors/spcup.yaml`` (a
path relative to the file, or a list of paths merged in order), and hold only its differences,
merged by the rule above; for example ``configs/ablation/ablation_bce.yaml``::

    _base_: ablation_cvar_vs_auc_sam.yaml      # spcup's network and objective
    loss: {name: bce}                           # a new name: replaces the composite loss
    optimizer: {name: adamw, lr: 1.0e-5}        # replaces SAM; detector, data, schedule inherited

A cycle of ``_base_`` files is an error naming them.

**Plugins.** ``imports: [my_head.py, my_pkg.losses]`` lists modules or ``.py`` files (relative to
the YAML file that names them) imported before the registry sections are checked, so a config can
name a detector, loss or optimizer defined in your own code. The lists of every layer and every
``_base_`` file add up.

**Checks, before anything is built.** Every layer is checked on its own against the dataclasses
(unknown key, wrong type). After each layer is merged, every registry section — ``detector`` with
its ``backbone``, ``loss`` with ``cvar``'s ``base`` and ``composite``'s ``terms``, ``optimizer``
with ``sam``'s ``base``, ``scheduler`` — is checked against its constructor's signature through
the registry (:func:`check_sections`). Either way the error names the key, the layer it came from
and the closest valid key. Values the trainer passes at build time (``class_counts`` and the like,
:data:`BUILD_TIME`) cannot be set in a config. A loss name that is not a registered loss is left
to a detector that builds its own loss (one that overrides ``build_loss``, as ``rdaa`` does).
A key written twice in one YAML file is an error. YAML is read with ``yaml.SafeLoader`` only.
"""

from dfshield.config.layers import BASE_KEY, DELETE_KEY, load_yaml, merge, parse_overrides
from dfshield.config.loading import (
    build_config,
    config_dir,
    find_detector_config,
    load_run_config,
    saved_run_config,
)
from dfshield.config.registry_checks import check_sections, nested_sections
from dfshield.config.run_config import BUILD_TIME, REGISTRY_SECTIONS, RunConfig, TrainConfig
from dfshield.schema import check, from_dict

__all__ = [
    "BASE_KEY",
    "BUILD_TIME",
    "DELETE_KEY",
    "REGISTRY_SECTIONS",
    "RunConfig",
    "TrainConfig",
    "build_config",
    "check",
    "check_sections",
    "config_dir",
    "find_detector_config",
    "from_dict",
    "load_run_config",
    "load_yaml",
    "merge",
    "nested_sections",
    "parse_overrides",
    "saved_run_config",
]
