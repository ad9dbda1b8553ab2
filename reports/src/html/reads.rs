//! The HTML section on object-storage reads per AZ: GETs and bytes downloaded by each
//! zone's nodes against the bytes its clients consumed (see [`crate::reads`]).

use std::fmt::Write;

use super::escape;
use crate::report::RunReport;

/// Bytes per MiB.
const MIB: f64 = 1_048_576.0;

/// The section; nothing when the run supplied no per-AZ reads.
pub(super) fn reads_section(s: &mut String, r: &RunReport) {
    if r.reads.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"reads\">Object-storage reads per AZ</h2>\n");
    s.push_str(
        "<p>GETs and bytes downloaded by the nodes of each AZ, against the record bytes its \
         clients consumed (the drain reader included). With the zone cache a file page is \
         read about once per AZ: one GET per 4 MiB page is 0.25 GETs per MiB, and 1.00 \
         bytes downloaded per byte consumed.</p>\n",
    );
    s.push_str(
        "<table><tr><th>AZ</th><th>GETs</th><th>MiB downloaded</th><th>MiB consumed</th>\
         <th>GETs per MiB consumed</th><th>downloaded / consumed</th></tr>\n",
    );
    for a in &r.reads {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            escape(&a.az),
            a.gets,
            a.bytes_downloaded as f64 / MIB,
            a.consumed_bytes as f64 / MIB,
            a.gets_per_mib_consumed
                .map_or("–".to_string(), |x| format!("{x:.3}")),
            a.downloaded_per_consumed
                .map_or("–".to_string(), |x| format!("{x:.2}")),
        );
    }
    s.push_str("</table>\n");
}
