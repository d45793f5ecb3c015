use super::process::{Sample, parse};

#[test]
fn process_figures_are_read_from_proc_texts() {
    // A command name with spaces and a parenthesis must not shift the fields.
    let stat = "4242 (gate house (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 12000 123456 789 18446744073709551615";
    let status = "Name:\tgatehouse\nVmRSS:\t   20480 kB\nThreads:\t9\n";
    let system = "cpu  1 2 3\nbtime 1700000000\nprocesses 1\n";
    let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
    assert_eq!(
        parse(stat, status, system, limits),
        Sample {
            resident_bytes: Some(20480.0 * 1024.0),
            cpu_seconds: Some(3.0),
            open_fds: None,
            max_fds: Some(1024.0),
            start_time: Some(1_700_000_120.0),
        }
    );
}

#[cfg(target_os = "linux")]
#[test]
fn this_process_has_memory_cpu_fds_and_a_start_time() {
    let sample = Sample::read().expect("/proc/self/stat");
    assert!(sample.resident_bytes.is_some_and(|v| v > 0.0), "{sample:?}");
    assert!(sample.cpu_seconds.is_some(), "{sample:?}");
    assert!(sample.open_fds.is_some_and(|v| v >= 3.0), "{sample:?}");
    assert!(sample.start_time.is_some_and(|v| v > 1.5e9), "{sample:?}");
}

mod config {
    use crate::config::Config;

    const BASE: &str = r#"
[server]
listen = "127.0.0.1:8080"
[realms.main]
chain = ["local"]
[[realms.main.providers]]
id = "local"
kind = "database"
"#;

    fn load(metrics: &str) -> Result<Config, String> {
        let text = format!("{BASE}[server.metrics]\n{metrics}\n");
        Config::from_toml(&text, "test.toml", Vec::new()).map_err(|e| e.to_string())
    }

    #[test]
    fn metrics_are_on_by_default_on_the_main_listener() {
        let config = Config::from_toml(BASE, "test.toml", Vec::new()).unwrap();
        let metrics = &config.server.metrics;
        assert!(metrics.enabled);
        assert!(metrics.listen.is_none() && metrics.bearer_token.is_none());
        assert!(!load("enabled = false").unwrap().server.metrics.enabled);
    }

    #[test]
    fn metrics_keys_are_checked_by_name() {
        let err = load("listen = \"localhost\"").unwrap_err();
        assert!(err.contains("server.metrics.listen"), "{err}");
        let err = load("listen = \"127.0.0.1:8080\"").unwrap_err();
        assert!(
            err.contains("server.metrics.listen") && err.contains("must differ"),
            "{err}"
        );
        let err = load("bearer_token = \"short\"").unwrap_err();
        assert!(err.contains("server.metrics.bearer_token"), "{err}");
        assert!(!err.contains("short\""), "the token is not echoed: {err}");
        let err = load("bearer_token = \"env:GATEHOUSE_TEST_UNSET_METRICS_TOKEN\"").unwrap_err();
        assert!(err.contains("server.metrics.bearer_token"), "{err}");
        let err = load("path = \"/m\"").unwrap_err();
        assert!(
            err.contains("server.metrics") && err.contains("path"),
            "{err}"
        );
        let config =
            load("listen = \"127.0.0.1:9090\"\nbearer_token = \"0123456789abcdef\"").unwrap();
        assert_eq!(
            config.server.metrics.listen.as_deref(),
            Some("127.0.0.1:9090")
        );
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
    }
}
