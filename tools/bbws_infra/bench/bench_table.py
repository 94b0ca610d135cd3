"""`invoke bench` as text: each goal (measured, goal, met), the other numbers, and per timed
flow the seconds of each stage, the provider starts per component, the component that finished
last and the CPU seconds used (`--json` prints the whole result instead)."""

from __future__ import annotations

from bbws_infra.core.untyped import JsonObject

_SKIPPED = ("goals", "met", "flows", "runs")


def _value(value: object) -> str:
    return "-" if value is None else str(value)


def goal_lines(result: JsonObject) -> list[str]:
    lines = [f"{'goal':<28} {'measured':>10} {'at most':>9}  met"]
    for key, goal in result.get("goals", {}).items():
        met = result.get("met", {}).get(key)
        lines.append(f"{key:<28} {_value(result.get(key)):>10} {goal:>9}  "
                     f"{'-' if met is None else 'yes' if met else 'NO'}")
    return lines


def other_lines(result: JsonObject) -> list[str]:
    goals = result.get("goals", {})
    return [f"{key}: {value}" for key, value in result.items()
            if key not in goals and key not in _SKIPPED]


def flow_lines(name: str, flow: JsonObject) -> list[str]:
    """One flow: its wall time, then one line per stage (summed over components, so parallel
    stages may add up to more than the wall time), then the provider starts and schema
    reads."""
    lines = [f"{name}: {flow['wall_s']} s wall"
             + (f" (runs {flow['runs_wall_s']})" if "runs_wall_s" in flow else "")]
    width = max((len(stage) for stage in flow["stages_s"]), default=10)
    for stage, seconds in flow["stages_s"].items():
        lines.append(f"  {stage:<{width}} {seconds:>7.2f} s")
    lines.append(f"  {'not in a stage (CLI start, imports, output)':<{width}} "
                 f"{flow['unaccounted_s']:>7.2f} s")
    starts = ", ".join(f"{c} {n}" for c, n in flow["provider_starts"].items()) or "none"
    lines.append(f"  provider starts: {starts}")
    reads = ", ".join(f"{c} {n}" for c, n in flow.get("schema_reads", {}).items()) or "none"
    lines.append(f"  provider schema reads: {reads}")
    if flow.get("last_component"):
        longest = sorted(flow["last_component_stages_s"].items(), key=lambda item: -item[1])
        lines.append(f"  last to finish: {flow['last_component']} ("
                     + ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in longest[:3])
                     + ")")
    cpu = flow.get("cpu_s") or {}
    if cpu:
        lines.append(f"  CPU: {cpu['command']:.2f} s in the command's processes, "
                     f"{cpu['emulator']:.2f} s in the emulator")
    return lines


def text(result: JsonObject) -> str:
    lines = [*goal_lines(result), "", *other_lines(result)]
    for name, flow in result.get("flows", {}).items():
        lines += ["", *flow_lines(name, flow)]
    return "\n".join(lines)


