"""OpenTelemetry traces and metrics of decide: off by default, on when the standard `OTEL_*` variables ask.

What is recorded (no argument, key or session id ever is):

* a span `policy.decide` per decision, with its verdict, rule and tool category;
* `inherence.policy.decide.duration` (histogram, ms), by rule (`none` when no rule objected) and verdict;
* `inherence.policy.decisions` (counter), by verdict;
* `inherence.policy.outcome.lag` (histogram, s): from a decision to the outcome the proxy reported
  for it (a result, or a person's answer to a confirm), for decisions this process made.

`Telemetry.from_environment()` turns it on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces or
metrics form), `OTEL_TRACES_EXPORTER` or `OTEL_METRICS_EXPORTER` is set and `OTEL_SDK_DISABLED` is not
`true`; the exporters are OTLP over HTTP (the `otel` extra) or `console`. The SDK reads the rest of
the standard variables itself (endpoint, headers, service name, export intervals).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["Telemetry"]

logger = logging.getLogger("inherence_policy_server")

_SWITCHES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
)
_REMEMBERED = 16_384
_SCOPE = "inherence_policy_server"


class Telemetry:
    """The instruments of one process; `decided` and `reported` are called by the decision service."""

    def __init__(self, *, tracer_provider: Any, meter_provider: Any) -> None:
        self._tracer = tracer_provider.get_tracer(_SCOPE)
        meter = meter_provider.get_meter(_SCOPE)
        self._providers = (tracer_provider, meter_provider)
        self._duration = meter.create_histogram(
            "inherence.policy.decide.duration", unit="ms", description="Time to decide one call, by rule and verdict"
        )
        self._decisions = meter.create_counter(
            "inherence.policy.decisions", unit="{decision}", description="Decisions, by verdict"
        )
        self._lag = meter.create_histogram(
            "inherence.policy.outcome.lag", unit="s", description="From a decision to the outcome reported for it"
        )
        self._decided_at: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Telemetry | None:
        """Telemetry exporting as the `OTEL_*` variables say, or None when they ask for none (or it cannot load)."""
        env = os.environ if environ is None else environ
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        if not any(env.get(name) for name in _SWITCHES):
            return None
        try:
            return cls._exporting(env)
        except ImportError as exc:
            logger.warning(
                "OTEL_* is set but OpenTelemetry is not installed (%s): install inherence-policy-server[otel]", exc.name
            )
        except Exception as exc:  # a bad setting must not stop the server
            logger.warning("OpenTelemetry could not start (%s); telemetry is off", type(exc).__name__)
        return None

    @classmethod
    def _exporting(cls, env: Mapping[str, str]) -> Telemetry | None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            MetricExporter,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

        resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "inherence-policy-server"})
        traces = (env.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower()
        metrics = (env.get("OTEL_METRICS_EXPORTER") or "otlp").strip().lower()
        tracer_provider = TracerProvider(resource=resource)
        span_exporter: SpanExporter | None = None
        if traces == "console":
            span_exporter = ConsoleSpanExporter()
        elif traces == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )

            span_exporter = OTLPSpanExporter()
        if span_exporter is not None:
            tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        readers = []
        metric_exporter: MetricExporter | None = None
        if metrics == "console":
            metric_exporter = ConsoleMetricExporter()
        elif metrics == "otlp":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPMetricExporter,
            )

            metric_exporter = OTLPMetricExporter()
        if metric_exporter is not None:
            readers.append(PeriodicExportingMetricReader(metric_exporter))
        if span_exporter is None and not readers:
            return None
        return cls(
            tracer_provider=tracer_provider, meter_provider=MeterProvider(resource=resource, metric_readers=readers)
        )

    def decided(
        self, decision_id: str, verdict: str, rule: str | None, category: str, started_ns: int, ended_ns: int
    ) -> None:
        """One decision made: its span, duration and count; remembered for the lag of its outcome."""
        attributes = {"inherence.decision": verdict, "inherence.rule": rule or "none", "inherence.category": category}
        span = self._tracer.start_span("policy.decide", start_time=started_ns, attributes=attributes)
        span.end(end_time=ended_ns)
        self._duration.record((ended_ns - started_ns) / 1e6, {"rule": rule or "none", "decision": verdict})
        self._decisions.add(1, {"decision": verdict})
        with self._lock:
            self._decided_at[decision_id] = time.monotonic()
            while len(self._decided_at) > _REMEMBERED:
                self._decided_at.popitem(last=False)

    def reported(self, decision_id: str, kind: str) -> None:
        """The outcome of a decision arrived (`result` or `confirmation`): its lag, if the decision was ours."""
        with self._lock:
            at = self._decided_at.pop(decision_id, None)
        if at is not None:
            self._lag.record(time.monotonic() - at, {"outcome": kind})

    def shutdown(self) -> None:
        """Export what is pending and stop (the server's shutdown)."""
        for provider in self._providers:
            stop = getattr(provider, "shutdown", None)
            if stop is not None:
                try:
                    stop()
                except Exception as exc:
                    logger.warning("telemetry shutdown failed (%s)", type(exc).__name__)
