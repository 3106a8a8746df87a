//! The broker's log: `tracing` events, filtered by an `EnvFilter`, written
//! to stderr one line each, as text or as JSON.
//!
//! Text keeps the shape corelog's lines always had, so scripts and tests
//! that look for `corelog: ready`-style lines still find them:
//! `corelog: [warning: |error: |debug: ]MESSAGE[ key=value ...][ shard=N]`.
//! JSON: one object per line with `timestamp` (RFC 3339, UTC), `level`,
//! `target`, `shard` (null on the main thread), `message` and the event's
//! own fields.
//!
//! Invariants: every line names its shard. Each shard executor thread
//! enters the `shard` span (`shard_span`) for its whole life, so an event
//! logged anywhere on that thread carries `shard=N` without its call site
//! saying so; lines from the main thread (start-up, shut-down) have none.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The name of the span each shard thread enters.
const SHARD_SPAN: &str = "shard";

/// The span a shard's executor thread enters for its whole life.
pub fn shard_span(index: usize) -> tracing::Span {
    tracing::info_span!(SHARD_SPAN, shard = index)
}

/// The filter that `--log-level LEVEL` stands for when no `--log-filter`
/// is given: corelog's own events at LEVEL, other crates' (openraft's
/// chatty info lines) at warn unless LEVEL is quieter still.
pub fn level_filter(level: &str) -> String {
    match level {
        "error" | "off" => level.to_string(),
        _ => format!("warn,corelog={level}"),
    }
}

/// Checks an `EnvFilter` directive string (`warn,corelog::group=debug`).
pub fn parse_filter(filter: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder()
        .parse(filter)
        .map_err(|error| format!("--log-filter {filter:?}: {error}"))
}

/// Installs the process's subscriber: called once, before any shard starts.
pub fn install(filter: &str, format: LogFormat) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(parse_filter(filter)?)
        .with_writer(std::io::stderr)
        .event_format(Lines { format })
        .try_init()
        .map_err(|error| format!("cannot start logging: {error}"))
}

/// The event formatter for both formats.
struct Lines {
    format: LogFormat,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let shard = shard_of(context);
        let level = *event.metadata().level();
        let line = match self.format {
            LogFormat::Text => text_line(level, &fields, shard),
            LogFormat::Json => json_line(level, event.metadata().target(), &fields, shard),
        };
        writeln!(writer, "{line}")
    }
}

/// The shard whose span the event was logged under, if any.
fn shard_of<S, N>(context: &FmtContext<'_, S, N>) -> Option<u64>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let scope = context.event_scope()?;
    for span in scope {
        if span.name() != SHARD_SPAN {
            continue;
        }
        let extensions = span.extensions();
        // The span's fields as the fmt layer recorded them: "shard=N".
        let recorded = extensions.get::<FormattedFields<N>>()?;
        return recorded
            .fields
            .strip_prefix("shard=")
            .and_then(|number| number.parse().ok());
    }
    None
}

/// An event's message and its other fields, in the order logged.
#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(&'static str, serde_json::Value)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            let shown = format!("{value:?}");
            self.others
                .push((field.name(), serde_json::Value::String(shown)));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.others.push((field.name(), value.into()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.others.push((field.name(), value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.others.push((field.name(), value.into()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.others.push((field.name(), value.into()));
    }
}

fn text_line(level: Level, fields: &Fields, shard: Option<u64>) -> String {
    let marker = match level {
        Level::ERROR => "error: ",
        Level::WARN => "warning: ",
        Level::INFO => "",
        Level::DEBUG => "debug: ",
        Level::TRACE => "trace: ",
    };
    let mut line = format!("corelog: {marker}{}", fields.message);
    for (name, value) in &fields.others {
        match value {
            serde_json::Value::String(text) => write!(line, " {name}={text}"),
            other => write!(line, " {name}={other}"),
        }
        .expect("writing to a String");
    }
    if let Some(shard) = shard {
        write!(line, " shard={shard}").expect("writing to a String");
    }
    line
}

fn json_line(level: Level, target: &str, fields: &Fields, shard: Option<u64>) -> String {
    let mut object = serde_json::Map::new();
    object.insert("timestamp".into(), rfc3339_now().into());
    object.insert("level".into(), level.as_str().into());
    object.insert("target".into(), target.into());
    object.insert("shard".into(), shard.into());
    object.insert("message".into(), fields.message.clone().into());
    for (name, value) in &fields.others {
        object.insert((*name).to_string(), value.clone());
    }
    serde_json::Value::Object(object).to_string()
}

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339_now() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    let in_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60,
        since_epoch.subsec_millis()
    )
}

/// The proleptic Gregorian (year, month, day) of a count of days since
/// 1970-01-01, counting in 400-year eras of 146,097 days whose years start
/// in March (so the leap day falls at the end of a year).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_of_known_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_423), (2025, 12, 1));
    }

    #[test]
    fn text_lines_keep_the_corelog_prefix_and_name_the_shard() {
        let fields = Fields {
            message: "ready".into(),
            others: vec![("bytes", 12.into())],
        };
        assert_eq!(
            text_line(Level::INFO, &fields, Some(3)),
            "corelog: ready bytes=12 shard=3"
        );
        assert_eq!(
            text_line(Level::WARN, &fields, None),
            "corelog: warning: ready bytes=12"
        );
    }

    #[test]
    fn level_filters_parse() {
        for level in ["trace", "debug", "info", "warn", "error", "off"] {
            parse_filter(&level_filter(level)).unwrap();
        }
        assert!(parse_filter("corelog=loud").is_err());
    }
}
