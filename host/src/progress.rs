//! Progress bars on stderr (hidden automatically when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `total` items of `what`; none at all when `quiet` (a command printing JSON).
pub fn bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, eta {{eta}}) {{msg}}"
        ))
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar
}

/// A spinner for work without a count (`what`, with the time it has taken so far).
pub fn spinner(what: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {what} ({{elapsed}})"))
            .expect("the template is valid"),
    );
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    spinner
}
