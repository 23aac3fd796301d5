//! The report as one HTML page: inline CSS and SVG, nothing fetched.

use super::{Report, plots};
use anyhow::Result;
use std::fmt::Write;

/// The page's sections, in order; the tests and the CI render check look for them.
pub const SECTIONS: [&str; 7] = [
    "Summary",
    "Accuracy against spikes",
    "Codings",
    "Spikes per layer",
    "Spike raster",
    "Confusion matrix",
    "Synthesis",
];

/// Text for HTML (element content and quoted attributes).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:820px;margin:24px auto;color:#222}\
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;\
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}p.note{color:#555;\
font-size:13px}figure{margin:0}.cm td{width:34px}";

/// Renders the page.
pub fn render(report: &Report) -> Result<String> {
    let mut h = String::new();
    let e = &report.eval;
    let title = format!("fs-accel report: {}", report.model);
    writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    )?;
    writeln!(h, "<h1>{}</h1>", escape(&title))?;

    section(&mut h, 0)?;
    writeln!(
        h,
        "<table><tr><th class=\"l\">model</th><td class=\"l\">{}</td></tr>\
         <tr><th class=\"l\">made by</th><td class=\"l\">{}</td></tr>\
         <tr><th class=\"l\">neurons per layer</th><td class=\"l\">{:?}</td></tr>\
         <tr><th class=\"l\">time steps per stage (K)</th><td class=\"l\">{:?}</td></tr>\
         <tr><th class=\"l\">test images</th><td class=\"l\">{} ({})</td></tr>\
         <tr><th class=\"l\">ANN float accuracy</th><td class=\"l\">{:.4}</td></tr>\
         <tr><th class=\"l\">FS float accuracy</th><td class=\"l\">{:.4}</td></tr>\
         <tr><th class=\"l\">FS fixed-point accuracy (the hardware's)</th><td class=\"l\">{:.4}</td></tr>\
         <tr><th class=\"l\">spikes per hidden neuron</th><td class=\"l\">{:.3}</td></tr>\
         <tr><th class=\"l\">synaptic operations per image</th><td class=\"l\">{:.0} (ANN: {} MACs)</td></tr>\
         <tr><th class=\"l\">saturations</th><td class=\"l\">{}</td></tr></table>",
        escape(&report.model),
        escape(&report.source),
        report.widths,
        report.k,
        e.images,
        escape(&e.dataset),
        e.ann_accuracy,
        e.fs_float_accuracy,
        e.fs_fixed_accuracy,
        e.spikes_per_neuron,
        e.synaptic_ops_per_image,
        e.ann_macs_per_image,
        e.saturations_total
    )?;

    section(&mut h, 1)?;
    writeln!(
        h,
        "<p class=\"note\">The model's ANN converted at each K (FS coding), the same spikes \
         counted over K single-spike neurons per FS neuron (the AMOS view), and a rate-coded \
         integrate-and-fire network of the same ANN at each T (reset by subtraction, \
         normalised on training images).</p>"
    )?;
    if let Some(why) = &report.rate_unavailable {
        writeln!(
            h,
            "<p class=\"note\">No rate-coded baseline for this network: {}.</p>",
            escape(why)
        )?;
    }
    writeln!(
        h,
        "<figure>{}</figure>",
        plots::accuracy_vs_spikes(&report.sweep, &report.rate)?
    )?;

    section(&mut h, 2)?;
    writeln!(
        h,
        "<table><tr><th class=\"l\">coding</th><th>K or T</th><th>accuracy</th>\
         <th>spikes per neuron</th><th>latency (steps)</th></tr>"
    )?;
    let rows = report
        .sweep
        .iter()
        .flat_map(|p| [&p.fs, &p.amos])
        .chain(&report.rate);
    for c in rows {
        writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{:.4}</td><td>{:.3}</td><td>{}</td></tr>",
            escape(&c.coding),
            c.steps,
            c.accuracy,
            c.spikes_per_neuron,
            c.latency_steps
        )?;
    }
    writeln!(h, "</table>")?;

    section(&mut h, 3)?;
    writeln!(
        h,
        "<figure>{}</figure>",
        plots::spikes_per_stage(&e.layers)?
    )?;

    section(&mut h, 4)?;
    let r = &report.raster;
    writeln!(
        h,
        "<p class=\"note\">Test image {}, label {}, FS fixed-point class {}: every spike of every \
         stage (the input code first), time step across, neuron down.</p>",
        r.image, r.label, r.class
    )?;
    writeln!(h, "<figure>{}</figure>", plots::raster(r)?)?;

    section(&mut h, 5)?;
    confusion(&mut h, &e.confusion)?;

    section(&mut h, 6)?;
    synthesis(&mut h, report)?;

    writeln!(
        h,
        "<p class=\"note\">Measured by the golden model in {:.1} s (fpga-host report).</p>\
         </body></html>",
        report.seconds
    )?;
    Ok(h)
}

fn section(h: &mut String, i: usize) -> Result<()> {
    let name = SECTIONS[i];
    let id = name.to_lowercase().replace(' ', "-");
    writeln!(h, "<h2 id=\"{id}\">{name}</h2>")?;
    Ok(())
}

/// Rows are labels, columns FS fixed-point classes; a cell's shade is its share of the row.
fn confusion(h: &mut String, matrix: &[Vec<u64>]) -> Result<()> {
    write!(h, "<table class=\"cm\"><tr><th>label \\ class</th>")?;
    for c in 0..matrix.len() {
        write!(h, "<th>{c}</th>")?;
    }
    writeln!(h, "</tr>")?;
    for (label, row) in matrix.iter().enumerate() {
        let total = row.iter().sum::<u64>().max(1) as f64;
        write!(h, "<tr><th>{label}</th>")?;
        for (class, &n) in row.iter().enumerate() {
            let share = n as f64 / total;
            let (r, g, b) = if class == label {
                (31, 119, 180)
            } else {
                (214, 39, 40)
            };
            let alpha = if n == 0 { 0.0 } else { 0.15 + 0.85 * share };
            write!(
                h,
                "<td style=\"background:rgba({r},{g},{b},{alpha:.2})\">{n}</td>"
            )?;
        }
        writeln!(h, "</tr>")?;
    }
    writeln!(h, "</table>")?;
    Ok(())
}

/// The synthesis reports found, one row each, with the fields `scripts/synth` writes.
fn synthesis(h: &mut String, report: &Report) -> Result<()> {
    if report.synthesis.is_empty() {
        writeln!(
            h,
            "<p class=\"note\">No synthesis reports found (scripts/synth writes \
             build/TARGET/report.json).</p>"
        )?;
        return Ok(());
    }
    let fields = [
        ("target", "target"),
        ("model", "model"),
        ("lanes", "lanes"),
        ("luts", "LUTs"),
        ("ffs", "FFs"),
        ("brams", "block RAMs"),
        ("fmax_mhz", "Fmax (MHz, slowest seed)"),
        ("cycles_per_image", "cycles per image"),
        ("images_per_second", "images/s"),
        ("latency_us", "latency (us)"),
    ];
    write!(h, "<table><tr><th class=\"l\">report</th>")?;
    for (_, title) in fields {
        write!(h, "<th>{title}</th>")?;
    }
    writeln!(h, "</tr>")?;
    for run in &report.synthesis {
        write!(h, "<tr><td class=\"l\">{}</td>", escape(&run.path))?;
        for (key, _) in fields {
            let cell = match run.report.get(key) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            write!(h, "<td>{}</td>", escape(&cell))?;
        }
        writeln!(h, "</tr>")?;
    }
    writeln!(h, "</table>")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
