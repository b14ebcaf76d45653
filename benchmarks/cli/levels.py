"""`python -m benchmarks levels fit-share --originals DIR --shared DIR --name NAME --out FILE.toml`: calibrate a
platform re-sharing preset from your own pairs (an original and the copy the platform gave back, matched by file
stem) and write it as a levels file for `run --levels-file` (`perturbations.share_fit`)."""
from __future__ import annotations

import sys
from pathlib import Path

import perturbations
from perturbations.share_fit import fit_share, levels_toml


def cmd_fit_share(args) -> int:
    if args.out.exists() and not args.force:
        raise ValueError(f"--out {args.out} exists; pass --force to overwrite it")
    fit = fit_share(args.originals, args.shared, name=args.name, preset=args.preset)
    for pair in fit.pairs:
        o, s = pair.original, pair.shared
        print(f"{Path(o.path).name}: {o.width}x{o.height} {float(o.fps):.3f} fps {o.kbps:.0f} kbps -> "
              f"{s.width}x{s.height} {float(s.fps):.3f} fps {s.codec} {s.kbps:.0f} kbps: CRF {pair.crf} "
              f"({pair.crf_kbps:.0f} kbps)", file=sys.stderr)
    for name in fit.unmatched:
        print(f"warning: {name}: no shared copy with the same file stem in {args.shared}; not used", file=sys.stderr)
    for note in fit.notes:
        print(f"warning: {note}", file=sys.stderr)
    text = levels_toml(fit, str(args.originals), str(args.shared))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        perturbations.load_levels_file(tmp)  # what we write must load: checked before it replaces anything
        perturbations.unregister(fit.name)
    except ValueError:
        tmp.unlink()
        raise
    tmp.replace(args.out)
    print(f"levels: {args.out} (level {fit.name}: {len(fit.pairs)} pair(s), CRF {fit.params['crf']}; "
          f"use --levels-file {args.out} --level {fit.name} or share:{fit.name}:N)")
    return 0


def add_parser(subparsers) -> None:
    levels = subparsers.add_parser("levels", help="build levels files (fit-share: a sharing preset from your own "
                                   "original/shared pairs)")
    sub = levels.add_subparsers(dest="levels_command", required=True)
    fit = sub.add_parser("fit-share", help="fit a platform re-sharing preset from original/shared video pairs",
                         description="Compare each original with its shared copy (same file stem): resolution, "
                         "frame rate, codec, profile, bit rate and keyframe interval through PyAV; find the CRF at "
                         "which the original, rescaled and rate-capped like the copy, reproduces the copy's bit "
                         "rate; write a levels file with one SHARE level (--level NAME, or share:NAME:N for N "
                         "re-shares, with --levels-file).")
    fit.add_argument("--originals", type=Path, required=True, metavar="DIR", help="folder of original videos")
    fit.add_argument("--shared", type=Path, required=True, metavar="DIR",
                     help="folder of the platform's copies, named like the originals (any video suffix)")
    fit.add_argument("--name", required=True, help="level name of the preset (letters, digits, - _)")
    fit.add_argument("--out", type=Path, default=Path("levels.toml"), help="levels file to write (default levels.toml)")
    fit.add_argument("--preset", default="medium",
                     choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                              "veryslow"), help="x264/x265 preset of the emulation (default medium)")
    fit.add_argument("--force", action="store_true", help="overwrite --out")
    fit.set_defaults(handler=cmd_fit_share)
