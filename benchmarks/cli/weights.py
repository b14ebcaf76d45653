"""`python -m benchmarks weights import SRC --detector NAME --out FILE`: external checkpoint -> project safetensors.

Reads any accepted file (MesoNet Keras .h5, deepfake_detector / DeepfakeBench .pth loaded weights_only, project
.safetensors), checks it fits NAME strictly, and writes FILE.safetensors + FILE.json whose card records the
architecture, input contract, provenance and the source file's sha256. `weights info FILE` prints a card.
"""
from __future__ import annotations

import json
from pathlib import Path

import detectors
from detectors import named_weights


def _options(values: list[str]) -> dict:
    out = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep:
            raise ValueError(f"--option {value!r}: use KEY=VALUE")
        out[key.replace("-", "_")] = int(raw) if raw.isdigit() else raw
    return out


def cmd_import(args) -> int:
    src = Path(args.src)
    det = detectors.create(args.detector, weights=src, **_options(args.option))
    provenance = f"imported by `weights import` from {src.name}: {det.weights.provenance}"
    if args.note:
        provenance += f"; {args.note}"
    out = detectors.export(det, args.out, provenance=provenance,
                           extra={"imported_from": {"file": src.name, "sha256": det.weights.sha256,
                                                    "format": det.weights.format}})
    print(f"weights: {out}  (card: {out.with_suffix('.json')}; source sha256 {det.weights.sha256})")
    return 0


def cmd_info(args) -> int:
    ckpt = detectors.load_checkpoint(named_weights.resolve(args.file))
    print(json.dumps({"format": ckpt.format, "architecture": ckpt.architecture, "sha256": ckpt.sha256,
                      "provenance": ckpt.provenance, "tensors": len(ckpt.state_dict), "card": ckpt.card},
                     indent=1, default=str))
    return 0


def add_parser(subparsers) -> None:
    weights = subparsers.add_parser("weights", help="convert external checkpoints to the project's safetensors format")
    sub = weights.add_subparsers(dest="weights_command", required=True)
    imp = sub.add_parser("import", help="convert SRC (h5 / pth / safetensors) for --detector into --out")
    imp.add_argument("src", metavar="SRC")
    imp.add_argument("--detector", required=True, help="registry name (meso, resnet-lstm, xception, timm:NAME, ...)")
    imp.add_argument("--out", required=True, type=Path, help="output file (.safetensors added when missing)")
    imp.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                     help="detector option, e.g. variant=b1 for efficientnet; repeatable")
    imp.add_argument("--note", help="free text appended to the provenance")
    imp.set_defaults(handler=cmd_import)
    info = sub.add_parser("info", help="print a weight file's format, architecture, sha256 and card")
    info.add_argument("file", help="weight file, or the name of a shipped one (`list` shows them)")
    info.set_defaults(handler=cmd_info)
