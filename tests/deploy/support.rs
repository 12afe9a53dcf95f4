//! Reading the repository's deployment files.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_yaml::Value;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// A file of the repository, by its path from the root.
pub fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A YAML file of the repository, with `<<` merge keys resolved.
pub fn read_yaml(relative: &str) -> Value {
    let mut value: Value =
        serde_yaml::from_str(&read(relative)).unwrap_or_else(|e| panic!("parsing {relative}: {e}"));
    resolve_merges(&mut value).unwrap_or_else(|e| panic!("merge keys in {relative}: {e}"));
    value
}

/// Applies `<<` merge keys until none is left: a merged mapping may bring
/// its own (`x-b: {<<: *a}` merged into a service).
fn resolve_merges(value: &mut Value) -> anyhow::Result<()> {
    for _ in 0..8 {
        if !has_merge_key(value) {
            return Ok(());
        }
        value.apply_merge()?;
    }
    bail!("merge keys nested more than 8 deep")
}

fn has_merge_key(value: &Value) -> bool {
    match value {
        Value::Mapping(mapping) => {
            mapping.contains_key("<<") || mapping.values().any(has_merge_key)
        }
        Value::Sequence(items) => items.iter().any(has_merge_key),
        Value::Tagged(tagged) => has_merge_key(&tagged.value),
        _ => false,
    }
}

/// A scalar as the string a container would see (`5` and `"5"` alike).
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The string at `path` (mapping keys) under `value`.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

/// The value at `path` (mapping keys) under `value`.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, key| node.get(*key))
}

/// The items of the sequence at `path`, or none.
pub fn items<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path)
        .and_then(Value::as_sequence)
        .map_or(&[], Vec::as_slice)
}

/// Fails the test with every problem found, one per line.
pub fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// The manifests a kustomization renders.
#[derive(Debug)]
pub struct Manifests {
    /// Where they came from, for messages.
    pub source: String,
    /// One value per YAML document.
    pub documents: Vec<Value>,
}

impl Manifests {
    /// Renders the kustomization at `relative` (a directory of the repo).
    pub fn render(relative: &str) -> Self {
        let text = kustomize(&repo_root().join(relative))
            .unwrap_or_else(|e| panic!("rendering {relative}: {e:#}"));
        // Kustomize separates documents with `---` lines; block scalars are
        // indented, so the split cannot cut one.
        let documents = text
            .split("\n---\n")
            .map(serde_yaml::from_str::<Value>)
            .filter(|document| !matches!(document, Ok(Value::Null)))
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("parsing the output of {relative}: {e}"));
        Self {
            source: relative.to_owned(),
            documents,
        }
    }

    /// The documents of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'static str) -> impl Iterator<Item = &'a Value> + 'a {
        self.documents
            .iter()
            .filter(move |document| str_at(document, &["kind"]) == Some(kind))
    }

    /// The document of `kind` named `name`.
    pub fn find(&self, kind: &str, name: &str) -> Option<&Value> {
        self.documents
            .iter()
            .find(|document| str_at(document, &["kind"]) == Some(kind) && name_of(document) == name)
    }
}

/// A manifest's `metadata.name`.
pub fn name_of(document: &Value) -> &str {
    str_at(document, &["metadata", "name"]).unwrap_or("<unnamed>")
}

/// Runs `kubectl kustomize` (or `kustomize build`) on `dir`.
fn kustomize(dir: &Path) -> anyhow::Result<String> {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_owned());
    let attempts: [(&str, &[&str]); 2] = [(&kubectl, &["kustomize"]), ("kustomize", &["build"])];
    for (program, args) in attempts {
        let output = match Command::new(program).args(args).arg(dir).output() {
            Ok(output) => output,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error).with_context(|| format!("running {program}")),
        };
        if !output.status.success() {
            bail!(
                "{program} {} {} failed:\n{}",
                args.join(" "),
                dir.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        return String::from_utf8(output.stdout).context("kustomize output is not UTF-8");
    }
    bail!(
        "the deploy tests render deploy/kubernetes with `kubectl kustomize`, but neither \
         `{kubectl}` nor `kustomize` is on the PATH: install kubectl (v1.27 or later), or set \
         KUBECTL to its path"
    )
}
