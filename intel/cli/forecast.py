"""``intel forecast``: next period's risk per cell, with the model card that says what it is worth."""

from __future__ import annotations

from pathlib import Path

import typer

from . import _options as opt
from ._output import write_json, write_table
from .backtest import CELL_SIZE, COVERAGE, HORIZON, LAYER, N_BOOT, SEED, STEP, parse_coverages, read_layers

MODEL = typer.Option("naive", "--model", help="One of naive (the 52-week count), kde, stkde, prospective, sepp, ksepp, rtm, gbm, ensemble.")
ORIGIN = typer.Option(None, "--origin", help="Start of the forecast (YYYY-MM-DD); default the day after the last incident.")
BACKTEST_ORIGINS = typer.Option(12, "--backtest-origins", help="Weekly origins before --origin backtested for the model card (0: none).")
OUT = typer.Option(..., "--out", help="Forecast grid file: .geojson, .gpkg, .csv or .parquet.")


def command(
    input: str = opt.INPUT,
    schema: str | None = opt.SCHEMA,
    mapping: list[str] = opt.MAP,
    tz: str | None = opt.TZ,
    crs: str | None = opt.CRS,
    table: str | None = opt.TABLE,
    query: str | None = opt.QUERY,
    category: list[str] = opt.CATEGORY,
    start: str | None = opt.START,
    end: str | None = opt.END,
    model: str = MODEL,
    origin: str | None = ORIGIN,
    horizon: str = HORIZON,
    step: str = STEP,
    cell_size_m: float | None = CELL_SIZE,
    backtest_origins: int = BACKTEST_ORIGINS,
    coverage: str = COVERAGE,
    layer: list[str] = LAYER,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    out: Path = OUT,
) -> None:
    """Forecast the expected incidents per cell over the horizon and write it with its model card."""
    from ..evaluate import build_forecast, models_from_names, render_model_card
    from ..exceptions import InputError
    from ..grid import make_grid

    names = [m for m in model.split(",") if m.strip()]
    if len(names) != 1:
        raise InputError(f"--model {model!r}: give one model (see --help); compare several with `intel backtest`.")
    incidents, _ = opt.load_from_options(input, schema=schema, mapping=mapping, tz=tz, crs=crs, table=table,
                                         query=query, categories=category, start=start, end=end)
    candidates = models_from_names(names, layers=read_layers(layer), owner="--model")
    chosen = candidates.get("RecentCount(weeks=52)") if names[0].strip().lower() == "naive" else next(iter(candidates.values()))
    grid = make_grid(incidents, cell_size_m=cell_size_m)
    scores = build_forecast(incidents, chosen, grid=grid, origin=origin, horizon=horizon, step=step,
                            backtest_origins=backtest_origins, coverages=parse_coverages(coverage), n_boot=n_boot,
                            random_state=seed)
    card = scores.attrs.pop("model_card")
    scores.attrs.pop("backtest", None)
    write_table(scores, out)
    write_json(out.with_name(out.name + ".model_card.json"), card)
    out.with_name(out.name + ".model_card.md").write_text(render_model_card(card), encoding="utf-8")
    bt = card["backtest"]
    verdict = ", ".join(f"{c:.0%}: {v}" for c, v in sorted((float(k), v) for k, v in bt.get("verdict_by_coverage", {}).items()))
    typer.echo(f"Wrote {out} ({len(scores):,} cells, {float(scores['risk'].sum()):.1f} incidents expected over {horizon}) "
               f"and its model card {out.name}.model_card.json/.md")
    typer.echo(f"Backtest vs {bt.get('reference')}: {verdict}" if bt["available"] else f"Model card: {bt['note']}")


def register(app: typer.Typer) -> None:
    app.command("forecast")(command)
