//! The compose files in compose/ are valid for Debian's docker-compose (`config -q`, alone and with
//! each variant) and for the official compose schema, and configure a registry Wharf accepts.

mod common;

use common::installed_tool;
use std::path::Path;

const COMPOSE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/compose");
const FILES: [&str; 3] = [
    "docker-compose.yml",
    "docker-compose.tls.yml",
    "docker-compose.nginx.yml",
];

/// `docker-compose config -q` accepts the stack alone and with each variant.
#[test]
fn docker_compose_config() {
    for variant in [
        None,
        Some("docker-compose.tls.yml"),
        Some("docker-compose.nginx.yml"),
    ] {
        let mut cmd = installed_tool("docker-compose");
        cmd.current_dir(COMPOSE).args(["-f", "docker-compose.yml"]);
        if let Some(v) = variant {
            cmd.args(["-f", v]);
        }
        let out = cmd
            .args(["config", "-q"])
            .env("REGISTRY_USERNAME", "admin")
            .env("REGISTRY_PASSWORD", "secret-password")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{variant:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Without the first user's credentials, compose refuses to start and says which variable to set.
#[test]
fn credentials_are_required() {
    let out = installed_tool("docker-compose")
        .current_dir(COMPOSE)
        .args(["-f", "docker-compose.yml", "config", "-q"])
        .env_remove("REGISTRY_USERNAME")
        .env_remove("REGISTRY_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("REGISTRY_USERNAME"));
}

/// Every compose file validates against the official compose-spec schema.
#[test]
fn compose_spec_schema() {
    for file in FILES {
        let out = installed_tool("check-jsonschema")
            .args(["--builtin-schema", "vendor.compose-spec"])
            .arg(Path::new(COMPOSE).join(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The registry service's `REGISTRY_*` environment, as compose resolves it, is a configuration Wharf
/// accepts, with htpasswd authentication and deletes on; the UI points at the registry service.
#[test]
fn registry_environment_loads() {
    let out = installed_tool("docker-compose")
        .current_dir(COMPOSE)
        .args(["-f", "docker-compose.yml", "config"])
        .env("REGISTRY_USERNAME", "admin")
        .env("REGISTRY_PASSWORD", "secret-password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resolved: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    let env = resolved["services"]["registry"]["environment"]
        .as_mapping()
        .unwrap();
    let vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).unwrap().trim().to_string(),
            };
            (k.as_str().unwrap().to_string(), v)
        })
        .collect();
    assert!(vars
        .iter()
        .any(|(k, v)| k == "WHARF_USERNAME" && v == "admin"));
    let config = wharf::config::Config::load(None, wharf::config::RegistryEnv::from_vars(vars))
        .unwrap_or_else(|e| panic!("compose's registry environment is refused: {e}"));
    assert!(config.auth.htpasswd.is_some());
    assert!(config.storage.delete.enabled);
    assert_eq!(
        resolved["services"]["ui"]["environment"]["NGINX_PROXY_PASS_URL"].as_str(),
        Some("http://registry:5000")
    );
}
