"""Training logs as files: per-epoch CSV and a loss/AUC figure (from the history rows `train` records)."""
from __future__ import annotations

import csv
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from .figures import plt, save_figure, styled

HISTORY_COLUMNS = ("epoch", "lr", "frozen_backbone", "train_loss", "val_loss", "val_auc", "val_ap", "val_accuracy",
                   "seconds")


def write_history_csv(history: list[dict], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
    return path


@styled
def plot_history(history: list[dict], path: Path, title: str = "training", best_epoch: int | None = None) -> Path | None:
    """Training and validation loss (left axis) and validation AUC (right axis) per epoch."""
    if not history:
        return None
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(11.0, 7.2))
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="training loss")
    ax.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation loss")
    ax.set(xlabel="epoch", ylabel="BCE loss", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    auc_axis = ax.twinx()
    auc_axis.plot(epochs, [h["val_auc"] if h["val_auc"] is not None else float("nan") for h in history], "^-",
                  color="tab:green", label="validation AUC")
    auc_axis.set(ylabel="validation video AUC", ylim=(0, 1.02))
    if best_epoch:
        ax.axvline(best_epoch, color="grey", linestyle=":", label=f"kept epoch {best_epoch}")
    lines = ax.get_legend_handles_labels(), auc_axis.get_legend_handles_labels()
    ax.legend(lines[0][0] + lines[1][0], lines[0][1] + lines[1][1], loc="center right")
    return save_figure(fig, path)
