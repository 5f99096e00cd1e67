"""Settings chosen from the data's size where a run leaves them at 0 ("automatic").

A search on the seed's 1,000 digits and one on 54,000 Fashion-MNIST images need different
fidelities: ranking candidates on every training image costs hours on large data, while the
final model should learn from all of them. Where the run does not give them, these settings
are chosen here, once, from the sizes of the training and validation splits (and the time
budget); the chosen values replace the zeros in the run's config, so they are recorded with
the run and a resumed run uses them as they were:

- `search.subset`: all training images up to SUBSET, else SUBSET, and with a budget above
  BUDGET_UNIT proportionally more (a longer budget buys a more faithful ranking);
- `search.val_subset`: all validation images up to VAL_SUBSET, else VAL_SUBSET;
- `train.batch_size`: 64, or 128 above LARGE_DATA training images (the final model's epochs
  over tens of thousands of images take half the steps, each a larger, faster matrix product;
  a search subset of 2,000 images then takes 16 steps an epoch, as the seed's digits do);
- `train.augment`: on up to LARGE_DATA training images, off above (measured on Fashion-MNIST:
  15 epochs of conv32k5-relu-maxpool2-fc100 reached test error 0.084 without augmentation
  and 0.096 with the default shifts, rotations and scalings);
- `train.aug_flip`: on for a data set whose classes look alike mirrored left-right (clothing,
  objects: `mirrors`), off for the others (digits, letters, the user's own files);
- `search.final_epochs`: 100 up to 8,000 training images, else FINAL_IMAGE_EPOCHS / images
  (rounded), at least MIN_FINAL_EPOCHS: the final model's training then sees about as many
  images whatever the data's size.

On the seed's digits every rule gives the value the settings had before they were chosen
(all images, batches of 64, augmentation on, no mirroring, 100 final epochs), so its results are
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nas4cnn.core.config import RunConfig, TrainConfig, setting_name

SUBSET = 2_000
VAL_SUBSET = 2_000
BUDGET_UNIT = 1_800.0  # seconds: a budget of this length or less ranks on SUBSET images
LARGE_DATA = 10_000
FINAL_IMAGE_EPOCHS = 800_000
MIN_FINAL_EPOCHS = 15
MAX_FINAL_EPOCHS = 100


@dataclass(frozen=True)
class Choice:
    """One setting chosen from the data: its name (as in messages), the value and why."""

    setting: str
    value: int | str
    why: str

    def __str__(self) -> str:
        value = f"{self.value:,}" if isinstance(self.value, int) else self.value
        return f"{self.setting} = {value} ({self.why})"


def search_subset_size(n_train: int, budget: float) -> int:
    """The training images candidates are ranked on, by default."""
    size = SUBSET
    if budget > BUDGET_UNIT:
        size = int(round(SUBSET * budget / BUDGET_UNIT, -2))
    return min(n_train, size)


def final_epochs(n_train: int) -> int:
    return max(MIN_FINAL_EPOCHS, min(MAX_FINAL_EPOCHS, round(FINAL_IMAGE_EPOCHS / n_train)))


def choose(config: RunConfig, n_train: int, n_val: int, mirrors: bool = False) -> tuple[RunConfig, list[Choice]]:
    """`config` with its automatic settings (those at 0 or "auto") chosen for splits of
    `n_train` training and `n_val` validation images of a data set whose classes look alike
    mirrored if `mirrors`, and what was chosen. A setting already given is kept as it is."""
    s, t = config.search, config.train
    chosen: list[Choice] = []
    search: dict[str, int] = {}
    train: dict[str, int | str] = {}
    if s.subset == 0:
        search["subset"] = search_subset_size(n_train, s.budget)
        why = "all training images" if search["subset"] == n_train else f"of {n_train:,} training images"
        if s.budget > BUDGET_UNIT and search["subset"] != n_train:
            why += f", for a budget of {s.budget / 60:g} minutes"
        chosen.append(Choice(setting_name("search", "subset"), search["subset"], why))
    if s.val_subset == 0:
        search["val_subset"] = min(n_val, VAL_SUBSET)
        why = "all validation images" if search["val_subset"] == n_val else f"of {n_val:,} validation images"
        chosen.append(Choice(setting_name("search", "val_subset"), search["val_subset"], why))
    settled = settle(t, n_train)
    for key in ("batch_size", "augment"):
        if getattr(settled, key) != getattr(t, key):
            train[key] = getattr(settled, key)
            chosen.append(Choice(setting_name("train", key), train[key], f"{n_train:,} training images"))
    if t.aug_flip == "auto":
        train["aug_flip"] = "on" if mirrors else "off"
        chosen.append(Choice(setting_name("train", "aug_flip"), train["aug_flip"],
                             "its classes look alike mirrored" if mirrors else "not a data set known to mirror"))
    if s.final_epochs == 0:
        search["final_epochs"] = final_epochs(n_train)
        chosen.append(Choice(setting_name("search", "final_epochs"), search["final_epochs"],
                             f"{n_train:,} training images"))
    return config.override("search", **search).override("train", **train), chosen


def settle(cfg: TrainConfig, n_train: int) -> TrainConfig:
    """A training recipe with its automatic settings chosen for `n_train` training images, for
    code that trains without a prepared run config (a run's config has them chosen already,
    from the whole data set's size: `choose`). Mirroring left "auto" is off here: only a run's
    config knows its data set."""
    if cfg.batch_size and cfg.augment != "auto" and cfg.aug_flip != "auto":
        return cfg
    large = n_train > LARGE_DATA
    return replace(cfg, batch_size=cfg.batch_size or (128 if large else 64),
                   augment=("off" if large else "on") if cfg.augment == "auto" else cfg.augment,
                   aug_flip="off" if cfg.aug_flip == "auto" else cfg.aug_flip)
