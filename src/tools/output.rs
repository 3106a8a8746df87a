//! Printing: aligned text tables for people, one JSON document for scripts.

use std::io::Write;

use serde_json::Value;

use super::{Format, ToolError};

/// A table: a header row and rows of cells, printed with each column as
/// wide as its widest cell.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|header| header.len()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// Prints `text` (tables) or `json`, by `format`.
pub fn emit(
    format: Format,
    text: impl FnOnce() -> String,
    json: impl FnOnce() -> Value,
) -> Result<(), ToolError> {
    let out = match format {
        Format::Table => text(),
        Format::Json => {
            let mut out = serde_json::to_string_pretty(&json()).expect("a Value always serializes");
            out.push('\n');
            out
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(ToolError::Terminal)
}

/// A cell for an optional number: the number, or "-".
pub fn or_dash(value: Option<i64>) -> String {
    value.map_or_else(|| "-".to_string(), |value| value.to_string())
}

/// A list of node ids as "1,2,3".
pub fn ids(values: &[i32]) -> String {
    let parts: Vec<String> = values.iter().map(i32::to_string).collect();
    parts.join(",")
}
