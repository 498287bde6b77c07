//! The deployment files in `deploy/` start a working relay: the systemd unit's `ExecStart` and
//! the Dockerfile's `CMD`, with this machine's paths and ports swapped in (a test certificate,
//! a temporary log, free loopback ports; the unit with each line of the package's options file),
//! run the real `jam-relay` and it serves `wss://` (or `ws://` with the default options).
//! (Neither systemd nor a container engine runs on the CI machines, so this is what can be
//! checked: that every flag they pass exists and works together.)

use jam_tests::RelayProcess;
use jam_tests::pki::TestPki;

/// The arguments after the program in `command`, with deployment paths swapped for test ones.
fn localized(args: Vec<String>, pki: &TestPki, dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--bind" | "--metrics" => Some("127.0.0.1:0".to_owned()),
            "--tls-cert" => Some(pki.cert.display().to_string()),
            "--tls-key" => Some(pki.key.display().to_string()),
            "--log" => Some(dir.join("takes.sqlite").display().to_string()),
            _ => None,
        };
        out.push(arg);
        if let Some(value) = value {
            args.next();
            out.push(value);
        }
    }
    out
}

async fn serves_tls(args: Vec<String>, what: &str) {
    let dir = std::env::temp_dir().join(format!("jamwire-deploy-{what}-{}", std::process::id()));
    let pki = TestPki::create(&dir, &["localhost", "127.0.0.1"]);
    let mut relay = RelayProcess::spawn(localized(args, &pki, &dir));
    let (url, line) = relay.next_url().await;
    assert!(url.starts_with("wss://127.0.0.1:"), "{what}: {line}");
    let (metrics, line) = relay.next_url().await;
    assert!(metrics.starts_with("http://127.0.0.1:"), "{what}: {line}");
    drop(relay);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The systemd unit's `ExecStart` (after the program) with `$JAM_RELAY_OPTS` replaced by the
/// value on the line of the package's options file that starts with `line_start`.
fn unit_command(line_start: &str) -> Vec<String> {
    let unit = include_str!("../../deploy/jamwire-relay.service");
    let options = include_str!("../../deploy/deb/jamwire-relay.default");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let value = options
        .lines()
        .find_map(|l| l.strip_prefix(line_start))
        .unwrap_or_else(|| panic!("no {line_start:?} line in the options file"))
        .trim_matches('"');
    let mut words: Vec<String> = exec
        .split_whitespace()
        .flat_map(|w| match w {
            "$JAM_RELAY_OPTS" => value.split_whitespace().collect::<Vec<_>>(),
            w => vec![w],
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(words.remove(0), "/usr/bin/jam-relay");
    words
}

#[tokio::test]
async fn the_systemd_units_command_line_runs_a_tls_relay() {
    // The options file's commented line for a public relay serving TLS itself.
    serves_tls(unit_command("#JAM_RELAY_OPTS="), "unit").await;
}

#[tokio::test]
async fn the_systemd_units_default_options_run_a_plain_relay() {
    let dir = std::env::temp_dir().join(format!("jamwire-deploy-plain-{}", std::process::id()));
    let pki = TestPki::create(&dir, &["localhost"]);
    let mut relay = RelayProcess::spawn(localized(unit_command("JAM_RELAY_OPTS="), &pki, &dir));
    let (url, line) = relay.next_url().await;
    assert!(url.starts_with("ws://127.0.0.1:"), "{line}");
    drop(relay);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_dockerfiles_command_runs_a_tls_relay() {
    let dockerfile = include_str!("../../deploy/Dockerfile");
    let cmd = dockerfile
        .split("CMD [")
        .nth(1)
        .expect("a CMD")
        .split(']')
        .next()
        .unwrap()
        .replace("\\\n", " ");
    let words: Vec<String> = cmd
        .split(',')
        .map(|w| w.trim().trim_matches('"').to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    serves_tls(words, "docker").await;
}
