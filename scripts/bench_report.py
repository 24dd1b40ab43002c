#!/usr/bin/env python3
"""Merge glassbox's and onnxruntime's benchmark JSON into one Markdown table.

Usage: bench_report.py GLASSBOX.json ONNXRUNTIME.json

Ratios are glassbox ÷ onnxruntime for throughput (higher is better) and
onnxruntime ÷ glassbox for latency (higher is better), so "> 1" always means
glassbox is ahead.
"""

import json
import os
import platform
import sys


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    gb = json.load(open(sys.argv[1], encoding="utf-8"))
    ort = json.load(open(sys.argv[2], encoding="utf-8"))
    print(f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}")
    print()
    print("| model | batch rows/s glassbox | onnxruntime | ratio | native plan | 1-row µs glassbox (p99) | onnxruntime from Python (p99) | ratio | instantiate µs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, g in gb.items():
        o = ort.get(name, {}).get("onnxruntime")
        gbb = g["glassbox"]["batch_rows_per_s"]
        nat = g["native"]["batch_rows_per_s"]
        g1, g99 = g["glassbox"]["one_row_median_us"], g["glassbox"]["one_row_p99_us"]
        if o:
            ob, o1, o99 = o["batch_rows_per_s"], o["one_row_median_us"], o["one_row_p99_us"]
            print(
                f"| {name} | {gbb:,.0f} | {ob:,.0f} | {gbb / ob:.2f}× | {nat:,.0f} "
                f"| {g1:.1f} ({g99:.1f}) | {o1:.1f} ({o99:.1f}) | {o1 / g1:.2f}× "
                f"| {g['instantiate_median_us']:.1f} |"
            )
        else:
            print(f"| {name} | {gbb:,.0f} | – | – | {nat:,.0f} | {g1:.1f} ({g99:.1f}) | – | – | {g['instantiate_median_us']:.1f} |")


if __name__ == "__main__":
    main()
