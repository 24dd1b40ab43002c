//! Command-line parsing and the subcommands.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use glassbox::telemetry::{Telemetry, TelemetryConfig};
use glassbox::{Engine, EngineBuilder, Limits, Model, Prediction, Row, examples};

/// Run machine-learning models as sandboxed WebAssembly components.
///
/// MODEL arguments take a path to a component (`model.wasm`) or the name of a
/// bundled example (see `glassbox examples`).
#[derive(Parser)]
#[command(name = "glassbox", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model's name, version, task, inputs, outputs, digest, size and imports.
    Inspect {
        /// The model: a .wasm component or a bundled example's name.
        model: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Check the signature against this public key (repeatable).
        #[arg(long = "key", value_name = "PUB")]
        keys: Vec<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Score rows (JSON lines keyed by feature name) and print one JSON line per row.
    ///
    /// Classifiers print {"label": ..., "probabilities": [...]} (probabilities
    /// in the model's class order), regressors {"value": ...}. A row that
    /// cannot be scored prints {"row": N, "error": "..."} in its place; the
    /// other rows are still scored and the exit status is 1.
    Score {
        /// The model: a .wasm component or a bundled example's name.
        model: String,
        /// The rows: a .jsonl file, or - for stdin. Default: stdin, or the
        /// example's own sample rows when MODEL is a bundled example.
        rows: Option<PathBuf>,
        /// Rows sent to the model per call.
        #[arg(long, default_value_t = 1024)]
        batch_size: usize,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Judge drift offline, from prediction logs (`glassbox serve
    /// --prediction-log DIR`): the live monitor's report over every logged
    /// row of MODEL's name and version.
    ///
    /// Prints the health, its reasons and one line per feature; --json
    /// prints the whole report, --html also writes the dashboard's page for
    /// it, which opens offline. Exit status 0, or 1 when --fail-on is met.
    Report {
        /// Log files, or directories of them (*.jsonl, read in name order).
        #[arg(required = true, value_name = "LOG")]
        logs: Vec<PathBuf>,
        /// The model the rows were scored with: a .wasm component or a bundled example's name.
        #[arg(long)]
        model: String,
        /// Also write the report as a standalone HTML page.
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Live rows needed before any verdict.
        #[arg(long, value_name = "N", default_value_t = glassbox::monitor::drift::Thresholds::default().min_rows)]
        min_rows: u64,
        /// Exit with status 1 when the health is at this level or worse.
        #[arg(long, value_name = "warn|alert")]
        fail_on: Option<FailOn>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Compile a scikit-learn pipeline exported to ONNX into a component.
    ///
    /// The training file's columns (JSON keys of the first line, or the CSV
    /// header, in order) become the model's fields: numbers are numeric
    /// features, strings categorical ones with the categories seen, and a
    /// column with missing values (null / empty) accepts them. The component
    /// embeds the training profile (features and the model's own
    /// predictions) and the ONNX file's digest, imports only the log
    /// function and the host's linear algebra (no WASI, files, clock or
    /// network), and is checked against the same plan run natively before
    /// it is written.
    // `--version` names the model's version here, not glassbox's.
    #[command(disable_version_flag = true)]
    #[cfg(feature = "compiler")]
    Compile(CompileArgs),
    /// Compile a component to native code for a target, once, on a build
    /// machine: a node loads the result (.cwasm) without compiling.
    ///
    /// Native code is trusted only as far as its signer: a node loads a
    /// .cwasm only when a key it trusts signed it. Give --key to sign here,
    /// or sign later with `glassbox sign`. The component is first loaded on
    /// this machine, so a model that would be refused is refused here.
    /// See docs/DISTRIBUTE.md.
    #[cfg(feature = "compiler")]
    Precompile {
        /// The component.
        model: PathBuf,
        /// The target triple: x86_64-unknown-linux-gnu,
        /// aarch64-unknown-linux-gnu, … [default: this machine's]
        #[arg(long, value_name = "TRIPLE")]
        target: Option<String>,
        /// Where to write the precompiled model.
        #[arg(short, long, value_name = "MODEL.cwasm")]
        output: PathBuf,
        /// Sign it with this secret key (PEM, from `glassbox keygen`).
        #[arg(long, value_name = "KEY")]
        key: Option<PathBuf>,
    },
    /// Wrap a core module built with glassbox-guest (wasm32-unknown-unknown) into a component.
    #[cfg(feature = "compiler")]
    Componentize {
        /// The core module, e.g. target/wasm32-unknown-unknown/release/my_model.wasm.
        module: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// List the bundled example models.
    Examples,
    /// Compiles a component for another glassbox process, which watches
    /// this one's time and memory (see `glassbox::runtime::compiler`).
    #[command(hide = true, name = "__compile")]
    #[cfg(feature = "compiler")]
    InternalCompile {
        /// Compile for this target triple rather than this host.
        #[arg(long)]
        target: Option<String>,
        /// The engine's limits, as JSON.
        #[arg(long)]
        limits: String,
        /// Whether the engine interrupts calls at their deadline.
        #[arg(long, action = clap::ArgAction::Set)]
        interruptible: bool,
        /// The component.
        input: PathBuf,
        /// Where to write the compiled code.
        output: PathBuf,
    },
    /// Push a component to an OCI registry as a Wasm OCI artifact.
    ///
    /// Credentials: GLASSBOX_REGISTRY_USERNAME/PASSWORD, else the Docker
    /// config file's entry for the registry, else anonymous.
    #[cfg(feature = "oci")]
    Push {
        /// The component.
        model: PathBuf,
        /// A precompiled form of it (`glassbox precompile`; repeatable, one
        /// per target), pushed as a further layer of the same artifact.
        #[arg(long, value_name = "MODEL.cwasm")]
        precompiled: Vec<PathBuf>,
        /// Where: REGISTRY/REPOSITORY:TAG.
        reference: String,
        /// Plain HTTP (a loopback test registry).
        #[arg(long)]
        insecure: bool,
    },
    /// Pull a component from an OCI registry (checked against its digest),
    /// or, with --target, its precompiled form for that target.
    #[cfg(feature = "oci")]
    Pull {
        /// What: REGISTRY/REPOSITORY:TAG or @sha256:….
        reference: String,
        /// Where to write the component (or the precompiled form).
        #[arg(short, long)]
        output: PathBuf,
        /// Write the artifact's precompiled form for this target triple
        /// instead of the component (`native`: this machine's).
        #[arg(long, value_name = "TRIPLE")]
        target: Option<String>,
        /// Plain HTTP (a loopback test registry).
        #[arg(long)]
        insecure: bool,
    },
    /// Make an Ed25519 key pair for signing models: PREFIX.key (secret,
    /// PEM, mode 0600) and PREFIX.pub (public, PEM).
    Keygen {
        /// Path prefix of the two files.
        #[arg(long, default_value = "glassbox", value_name = "PREFIX")]
        out: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a component (WebAssembly module-signatures format; replaces an
    /// earlier signature). Sign last: any byte changed afterwards breaks it.
    Sign {
        /// The secret key (PEM, from `glassbox keygen`).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The component.
        model: PathBuf,
        /// Where to write the signed component. [default: in place]
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check that a trusted key signed a component and no byte changed
    /// since. Exit status 1 if any is refused.
    Verify {
        /// A trusted public key (PEM; repeatable).
        #[arg(long = "key", value_name = "PUB", required = true)]
        keys: Vec<PathBuf>,
        /// The components.
        #[arg(required = true)]
        models: Vec<PathBuf>,
    },
    /// Serve models over HTTP: KServe Open Inference Protocol v2 and KServe v1.
    ///
    /// Loads each SOURCE (a .wasm component, a .cwasm precompiled model, or
    /// a directory whose .wasm and .cwasm files
    /// are loaded and then watched: add, replace or remove a file and the
    /// model is loaded, swapped or retired without dropping a request); with
    /// none, the bundled example models. Prints the address, the page to open
    /// and a curl command, then serves until SIGTERM or SIGINT, when it stops
    /// accepting connections and drains the requests in flight.
    ///
    /// Settings, later ones winning: defaults, the --config file, environment
    /// variables, flags.
    ///
    /// Environment: GLASSBOX_LISTEN (listen), GLASSBOX_MODELS (models, a
    /// :-separated path list), GLASSBOX_WATCH_INTERVAL_MS,
    /// GLASSBOX_MAX_BODY_BYTES, GLASSBOX_MAX_ROWS,
    /// GLASSBOX_MAX_CONCURRENT_REQUESTS, GLASSBOX_MAX_PARALLEL_CALLS,
    /// GLASSBOX_DEADLINE_MS, GLASSBOX_CACHE_DIR, GLASSBOX_LOG (error, warn,
    /// info, debug; default info). See docs/SERVE.md.
    Serve(ServeArgs),
}

/// `glassbox serve`'s flags.
#[derive(Args)]
struct ServeArgs {
    /// Model sources: .wasm components, .cwasm precompiled models (with
    /// --trusted-key), directories (watched) and oci://REGISTRY/REPO:TAG
    /// images (pulled at start, cached by digest).
    /// [default: the bundled example models]
    #[arg(value_name = "MODEL.wasm | DIR | oci://REF")]
    sources: Vec<PathBuf>,
    /// Address to listen on; port 0 picks a free port. [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// A TOML config file: listen, models, watch_interval_ms,
    /// shutdown_timeout_ms, cache_dir, [limits] (max_body_bytes, max_rows,
    /// max_concurrent_requests, max_parallel_calls, retry_after_s) and
    /// [model_limits] (deadline_ms, memory_bytes, stack_bytes, max_rows,
    /// max_input_bytes, max_instances).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Wall-clock limit per guest call, in milliseconds. [default: 1000]
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<u64>,
    /// Requests admitted per model version at once; more get 429. [default: 64]
    #[arg(long, value_name = "N")]
    max_concurrent_requests: Option<usize>,
    /// Compile every time; read and write no cache.
    #[arg(long)]
    no_cache: bool,
    /// Talk plain HTTP to this registry (HOST:PORT; repeatable), for
    /// loopback test registries in oci:// sources.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure_registries: Vec<String>,
    /// Load only components signed by this public key (repeatable; adds
    /// to the config file's trusted_keys).
    #[arg(long = "trusted-key", value_name = "PUB")]
    trusted_keys: Vec<PathBuf>,
    /// Log inputs and answers (JSON Lines) into this directory.
    #[arg(long, value_name = "DIR")]
    prediction_log: Option<PathBuf>,
    /// Share of calls to log, in [0, 1]. [default: 1]
    #[arg(long, value_name = "RATE", requires = "prediction_log")]
    log_sample_rate: Option<f64>,
}

/// Engine settings shared by the commands that load models.
#[derive(Args)]
struct EngineArgs {
    /// Wall-clock limit per call, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = Limits::default().deadline.as_millis() as u64)]
    deadline_ms: u64,
    /// Memory limit per model instance, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_bytes >> 20)]
    memory_mib: usize,
    /// Instances live at once, all models together. Each reserves a few GiB
    /// of address space (not memory): fewer suit boards whose kernels give
    /// a process 512 GiB of it (39-bit).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_instances)]
    max_instances: u32,
    /// Directory caching compiled models.
    /// [default: $GLASSBOX_CACHE_DIR, $XDG_CACHE_HOME/glassbox or ~/.cache/glassbox]
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time; read and write no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Load only models signed by this public key (repeatable; adds to
    /// GLASSBOX_TRUSTED_KEYS, a :-separated list of files). Precompiled
    /// models (.cwasm) load only with one.
    #[arg(long = "trusted-key", value_name = "PUB")]
    trusted_keys: Vec<PathBuf>,
}

impl EngineArgs {
    fn engine(&self) -> Result<Engine> {
        Ok(self.builder()?.build()?)
    }

    /// The trusted keys of the flags and GLASSBOX_TRUSTED_KEYS, if any.
    fn trusted_keys(&self) -> Result<Option<glassbox::artifact::sign::TrustedKeys>> {
        let mut paths = self.trusted_keys.clone();
        if let Some(v) = std::env::var_os("GLASSBOX_TRUSTED_KEYS").filter(|v| !v.is_empty()) {
            paths.extend(std::env::split_paths(&v));
        }
        if paths.is_empty() {
            return Ok(None);
        }
        Ok(Some(read_keys(&paths)?))
    }

    fn builder(&self) -> Result<EngineBuilder> {
        let limits = Limits {
            deadline: Duration::from_millis(self.deadline_ms),
            memory_bytes: self.memory_mib << 20,
            max_instances: self.max_instances,
            ..Limits::default()
        };
        let mut builder = EngineBuilder::default().limits(limits);
        // Untrusted components compile in a child process under a budget.
        #[cfg(feature = "compiler")]
        if let Ok(exe) = std::env::current_exe() {
            builder = builder.compile_with(exe);
        }
        if let Some(keys) = self.trusted_keys()? {
            builder = builder.trusted_keys(keys);
        }
        if !self.no_cache
            && let Some(dir) = self
                .cache_dir
                .clone()
                .or_else(EngineBuilder::default_cache_dir)
        {
            builder = builder.cache_dir(dir);
        }
        Ok(builder)
    }
}

pub fn run() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Inspect {
            model,
            json,
            keys,
            mut engine,
        } => {
            // A key given to check the signature is trusted to load with
            // too: a precompiled model loads only with one.
            engine.trusted_keys.extend(keys.iter().cloned());
            inspect(&engine.engine()?, &model, json, &keys)
        }
        Command::Keygen { out, force } => keygen(&out, force),
        #[cfg(feature = "oci")]
        Command::Push {
            model,
            precompiled,
            reference,
            insecure,
        } => push(&model, &precompiled, &reference, insecure),
        #[cfg(feature = "oci")]
        Command::Pull {
            reference,
            output,
            target,
            insecure,
        } => pull(&reference, &output, target.as_deref(), insecure),
        Command::Sign { key, model, output } => sign(&key, &model, output.as_deref()),
        Command::Verify { keys, models } => verify(&keys, &models),
        Command::Score {
            model,
            rows,
            batch_size,
            engine,
        } => {
            // Warnings only: that the collector could not be reached, say.
            init_logging(tracing::Level::WARN);
            // Spans go out when OTEL_EXPORTER_OTLP_ENDPOINT says where; a
            // one-shot command has no use for Prometheus.
            let telemetry = Telemetry::install(&TelemetryConfig {
                prometheus: false,
                ..TelemetryConfig::default()
            })?;
            let engine = engine.builder()?.telemetry(&telemetry).build()?;
            let result = score(&engine, &model, rows.as_deref(), batch_size.max(1));
            telemetry.shutdown();
            result
        }
        #[cfg(feature = "compiler")]
        Command::Compile(args) => compile(args),
        #[cfg(feature = "compiler")]
        Command::Precompile {
            model,
            target,
            output,
            key,
        } => precompile(&model, target.as_deref(), &output, key.as_deref()),
        #[cfg(feature = "compiler")]
        Command::Componentize { module, output } => {
            let bytes =
                std::fs::read(&module).with_context(|| format!("reading {}", module.display()))?;
            let component = glassbox::componentize(&bytes)?;
            std::fs::write(&output, &component)
                .with_context(|| format!("writing {}", output.display()))?;
            eprintln!("wrote {} ({} bytes)", output.display(), component.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve(args),
        Command::Report {
            logs,
            model,
            html,
            json,
            min_rows,
            fail_on,
            engine,
        } => report(
            &engine.engine()?,
            &logs,
            &model,
            html.as_deref(),
            json,
            min_rows,
            fail_on,
        ),
        Command::Examples => {
            for e in examples::ALL {
                println!("{:<16} {}", e.name, e.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "compiler")]
        Command::InternalCompile {
            target,
            limits,
            interruptible,
            input,
            output,
        } => {
            let limits: Limits = serde_json::from_str(&limits).context("--limits")?;
            glassbox::runtime::compiler::compile_command(
                limits,
                interruptible,
                target.as_deref(),
                &input,
                &output,
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(feature = "compiler")]
fn precompile(
    model: &Path,
    target: Option<&str>,
    output: &Path,
    key: Option<&Path>,
) -> Result<ExitCode> {
    let started = Instant::now();
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    // Read the key before the long step: a wrong path fails at once.
    let secret = key
        .map(|k| std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display())))
        .transpose()?;
    let mut builder = EngineBuilder::default();
    if let Ok(exe) = std::env::current_exe() {
        builder = builder.compile_with(exe);
    }
    // What a node would refuse is refused here, where it is cheap to fix.
    let engine = builder.clone().build()?;
    let checked = engine
        .load(&bytes)
        .with_context(|| format!("{} is not a loadable model", model.display()))?;
    let target = target.unwrap_or(glassbox::artifact::precompiled::host_target());
    eprintln!(
        "precompiling {} ({} {}) for {target}",
        model.display(),
        checked.name(),
        checked.info().version
    );
    let mut code = builder
        .precompile(&bytes, Some(target))
        .with_context(|| format!("precompiling {} for {target}", model.display()))?;
    let signed = match (&secret, key) {
        (Some(secret), Some(key)) => {
            code = glassbox::artifact::sign::sign(&code, secret)
                .with_context(|| format!("signing with {}", key.display()))?;
            format!(
                "signed by key {}",
                glassbox::artifact::sign::signers(&code)?.join(", ")
            )
        }
        _ => "NOT signed: nodes load it only once signed (`glassbox sign --key KEY FILE`)".into(),
    };
    let tmp = output.with_extension("cwasm.writing");
    std::fs::write(&tmp, &code).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, output).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "wrote {} ({} bytes, {target}, {signed}) in {:.1} s",
        output.display(),
        code.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "compiler")]
fn compile(args: CompileArgs) -> Result<ExitCode> {
    let CompileArgs {
        onnx,
        train,
        output,
        name,
        version,
        expect,
        check_against,
        check_tolerance,
        trees,
    } = args;
    let (onnx, train, output) = (onnx.as_path(), train.as_path(), output.as_path());
    let expect = expect.as_deref();
    let check_against = check_against.as_deref().map(|p| (p, check_tolerance));
    let started = Instant::now();
    // Read before the long steps: a typo in the path fails at once.
    let check = check_against
        .map(|(path, tolerance)| -> Result<_> {
            anyhow::ensure!(
                tolerance.is_finite() && tolerance >= 0.0,
                "--check-tolerance must be a number of at least 0, got {tolerance}"
            );
            Ok((path, glassbox::compile::check::read(path)?, tolerance))
        })
        .transpose()?;
    let bytes = std::fs::read(onnx).with_context(|| format!("reading {}", onnx.display()))?;
    let expectations = expect
        .map(|path| -> Result<_> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            glassbox::artifact::expect::Expectations::from_toml(&text)
                .with_context(|| format!("reading {}", path.display()))
        })
        .transpose()?;
    let data = glassbox::compile::training::TrainingData::read(train)?;
    let name = name.unwrap_or_else(|| {
        onnx.file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned())
    });
    let progress = |step: &str| eprintln!("[{:>6.2} s] {step}", started.elapsed().as_secs_f64());
    let opts = glassbox::compile::CompileOptions {
        name,
        version,
        expectations,
        progress: Some(&progress),
        trees: match trees {
            Trees::Auto => glassbox::compile::trees::TreeMode::Auto,
            Trees::Code => glassbox::compile::trees::TreeMode::Code,
            Trees::Walk => glassbox::compile::trees::TreeMode::Walk,
        },
    };
    let compiled = glassbox::compile::compile(&bytes, &data, &opts)
        .with_context(|| format!("compiling {}", onnx.display()))?;
    if let Some((path, expected, tolerance)) = &check {
        progress(&format!(
            "checking against the fitted model's answers in {}",
            path.display()
        ));
        let model = Engine::new()?.load(&compiled.component)?;
        let report = glassbox::compile::check::check(&model, expected, *tolerance)?;
        if !report.agrees() {
            anyhow::bail!(
                "the compiled model disagrees with the fitted model on {} of {} rows of {} \
                 (tolerance {tolerance}); {} was not written. The converter changed the \
                 model: check its options, or report it to the converter.\n  {}",
                report.disagreeing,
                report.rows,
                path.display(),
                output.display(),
                report.disagreements.join("\n  ")
            );
        }
        eprintln!(
            "agrees with the fitted model on all {} rows of {} (worst difference {:.1e})",
            report.rows,
            path.display(),
            report.worst
        );
    }
    std::fs::write(output, &compiled.component)
        .with_context(|| format!("writing {}", output.display()))?;
    let s = &compiled.summary;
    let info = &compiled.info;
    eprintln!(
        "wrote {} ({} bytes)",
        output.display(),
        compiled.component.len()
    );
    eprintln!(
        "  model:     {} {} ({}), {} inputs, {}",
        info.name,
        info.version,
        match info.task {
            glassbox::Task::Classification => "classifier",
            glassbox::Task::Regression => "regressor",
        },
        info.inputs.len(),
        match &info.outputs {
            glassbox::Outputs::Classes(c) => format!("classes {}", c.join(", ")),
            glassbox::Outputs::DecisionClasses(c) => {
                format!("classes {}, with decision scores", c.join(", "))
            }
            glassbox::Outputs::Target(t) => format!("predicts `{t}`"),
        }
    );
    eprintln!(
        "  graph:     {} nodes, {} run per call after folding constants; operators {}",
        s.nodes,
        s.steps,
        compiled.source.operators.join(", ")
    );
    if s.trees > 0 {
        eprintln!(
            "  trees:     {} trees, {} nodes; {} ensemble(s) as code ({} KB of wasm)",
            s.trees,
            s.tree_nodes,
            s.tree_code,
            s.tree_code_bytes.div_ceil(1024)
        );
    }
    eprintln!(
        "  snapshot:  {} bytes of planned model in {} data segments; {:.1} MiB initial memory",
        s.snapshot_bytes,
        s.segments,
        s.memory_bytes as f64 / (1 << 20) as f64
    );
    eprintln!(
        "  training:  {} rows profiled; onnx sha256 {}",
        data.rows.len(),
        compiled.source.onnx_sha256
    );
    if let Some(e) = &opts.expectations {
        eprintln!(
            "  expects:   {} rule(s), owner {} <{}>",
            e.describe().len(),
            e.owner,
            e.contact
        );
    }
    eprintln!("  time:      {:.2} s", s.elapsed.as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// `glassbox compile`'s arguments.
#[cfg(feature = "compiler")]
#[derive(clap::Args)]
struct CompileArgs {
    /// The ONNX file (from skl2onnx, with zipmap=False for classifiers).
    onnx: PathBuf,
    /// The training rows: .jsonl (one object per line) or .csv (with a header).
    #[arg(long, value_name = "FILE")]
    train: PathBuf,
    /// Where to write the component.
    #[arg(short, long)]
    output: PathBuf,
    /// The model's name. [default: the ONNX file's name without extension]
    #[arg(long)]
    name: Option<String>,
    /// The model's version.
    #[arg(long, default_value = "1.0.0")]
    version: String,
    /// What the model's owner expects of inputs and outputs (TOML:
    /// owner, contact, per-feature bounds or categories, output
    /// shares or mean; hard or soft). Embedded; see docs/MONITOR.md.
    #[arg(long, value_name = "EXPECT.toml")]
    expect: Option<PathBuf>,
    /// The fitted model's own answers (JSON Lines: {"input": {...},
    /// "label": ..., "probabilities": [...]} or "scores" or "value"):
    /// the component is written only if it agrees with every row, so a
    /// converter that silently changed the model is caught here.
    #[arg(long, value_name = "EXPECTED.jsonl")]
    check_against: Option<PathBuf>,
    /// How far `--check-against` lets an answer be: absolute on
    /// probabilities, relative (to at least 1) on scores and values.
    #[arg(long, default_value_t = glassbox::compile::check::DEFAULT_TOLERANCE)]
    check_tolerance: f64,
    /// Tree ensembles as generated code (`auto`: those small enough for
    /// the instruction cache, where code beats the data walk), all as
    /// code (`code`), or none (`walk`). The answers are the same bits.
    #[arg(long, value_enum, default_value_t = Trees::Auto)]
    trees: Trees,
}

/// `glassbox compile --trees`.
#[cfg(feature = "compiler")]
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Trees {
    Auto,
    Code,
    Walk,
}

/// The level at which `glassbox report` fails.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum FailOn {
    Warn,
    Alert,
}

fn report(
    engine: &Engine,
    logs: &[PathBuf],
    model_arg: &str,
    html: Option<&Path>,
    json: bool,
    min_rows: u64,
    fail_on: Option<FailOn>,
) -> Result<ExitCode> {
    use glassbox::monitor::drift::Level;
    use glassbox::monitor::{Monitor, MonitorConfig};
    let model = load(engine, model_arg)?;
    let info = model.info();
    let Some(monitor) = Monitor::for_model(&model, MonitorConfig::whole(min_rows)) else {
        bail!(
            "model `{}` carries no training profile to compare with (compile it with --train)",
            info.name
        );
    };
    let logged = glassbox::monitor::predlog::read(logs, info)?;
    if logged.rows == 0 {
        bail!(
            "no logged rows of {} {} in {} ({} lines of other models or versions)",
            info.name,
            info.version,
            logs.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            logged.other
        );
    }
    for (batch, scores) in &logged.batches {
        monitor.observe(batch, scores);
    }
    let r = monitor.report();
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        let word = |l: Level| match l {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Alert => "alert",
        };
        println!(
            "{} {}: {} over {} logged rows",
            info.name,
            info.version,
            word(r.health),
            r.rows
        );
        if let (Some(owner), Some(contact)) = (&r.owner, &r.contact) {
            println!("owner: {owner} <{contact}>");
        }
        for reason in &r.reasons {
            println!("  {reason}");
        }
        println!(
            "\n{:<28} {:>6} {:>8} {:>9} {:>8} {:>8} {:>8}",
            "column", "level", "PSI", "p (adj.)", "missing", "outside", "unseen"
        );
        for c in &r.columns {
            println!(
                "{:<28} {:>6} {:>8.3} {:>9.1e} {:>7.1}% {:>7.1}% {:>7.1}%",
                c.name,
                word(c.drift.level),
                c.drift.psi,
                c.drift.p_adjusted,
                c.missing_rate * 100.0,
                c.out_of_range_rate * 100.0,
                c.unseen_rate * 100.0
            );
        }
    }
    if logged.other > 0 {
        eprintln!("skipped {} lines of other models or versions", logged.other);
    }
    if let Some(path) = html {
        let title = format!(
            "report on {} logged rows of {}",
            r.rows,
            logs.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        std::fs::write(path, glassbox::serve::report_page(&model, &r, &title))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let failed = match fail_on {
        Some(FailOn::Warn) => r.health >= Level::Warn,
        Some(FailOn::Alert) => r.health >= Level::Alert,
        None => false,
    };
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Loads MODEL: a bundled example's name, or a path.
fn load(engine: &Engine, model: &str) -> Result<Model> {
    if let Some(example) = examples::find(model)
        && !Path::new(model).exists()
    {
        return Ok(engine.load(example.component)?);
    }
    let path = Path::new(model);
    if !path.exists() {
        let names: Vec<&str> = examples::ALL.iter().map(|e| e.name).collect();
        bail!(
            "{model}: no such file, and not a bundled example ({})",
            names.join(", ")
        );
    }
    Ok(engine.load_file(path)?)
}

/// The trusted keys in `paths`, read and parsed, errors naming the file.
fn read_keys(paths: &[PathBuf]) -> Result<glassbox::artifact::sign::TrustedKeys> {
    let mut texts = Vec::new();
    for p in paths {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        glassbox::artifact::sign::TrustedKeys::from_bytes([bytes.as_slice()])
            .with_context(|| format!("{}", p.display()))?;
        texts.push(bytes);
    }
    Ok(glassbox::artifact::sign::TrustedKeys::from_bytes(
        texts.iter().map(Vec::as_slice),
    )?)
}

/// A small runtime for the registry commands' network calls.
#[cfg(feature = "oci")]
fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(f))
}

#[cfg(feature = "oci")]
fn push(
    model: &Path,
    precompiled: &[PathBuf],
    reference: &str,
    insecure: bool,
) -> Result<ExitCode> {
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let forms = precompiled
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    // Only what a host would load goes out.
    glassbox::Engine::new()?
        .load(&bytes)
        .with_context(|| format!("{} is not a loadable model", model.display()))?;
    let options = glassbox::ship::oci::OciOptions {
        insecure,
        title: model.file_name().map(|n| n.to_string_lossy().into_owned()),
    };
    let pushed = block_on(glassbox::ship::oci::push(
        &bytes, &forms, reference, &options,
    ))??;
    eprintln!(
        "pushed {} ({} bytes, {}) and {} precompiled form(s) to {}",
        model.display(),
        bytes.len(),
        pushed.layer_digest,
        forms.len(),
        pushed.manifest_url
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "oci")]
fn pull(reference: &str, output: &Path, target: Option<&str>, insecure: bool) -> Result<ExitCode> {
    let options = glassbox::ship::oci::OciOptions {
        insecure,
        ..Default::default()
    };
    let pulled = block_on(glassbox::ship::oci::pull(reference, &options))??;
    let (bytes, digest) = match target {
        None => (&pulled.component, &pulled.layer_digest),
        Some(t) => {
            let t = if t == "native" {
                glassbox::artifact::precompiled::host_target()
            } else {
                t
            };
            let Some(form) = pulled.form(t) else {
                let have: Vec<&str> = pulled
                    .precompiled
                    .iter()
                    .map(|f| f.target.as_str())
                    .collect();
                bail!(
                    "{reference} has no precompiled form for {t} (it has: {})",
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                );
            };
            (&form.bytes, &form.digest)
        }
    };
    let tmp = output.with_extension("pulling");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, output).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "pulled {reference} ({digest}, manifest {}) to {} ({} bytes)",
        pulled.manifest_digest,
        output.display(),
        bytes.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn keygen(prefix: &Path, force: bool) -> Result<ExitCode> {
    let (secret, public) = glassbox::artifact::sign::keygen();
    let with = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    let (key, pub_) = (with(".key"), with(".pub"));
    for p in [&key, &pub_] {
        if p.exists() && !force {
            bail!("{} exists; use --force to overwrite it", p.display());
        }
    }
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key)
            .with_context(|| format!("writing {}", key.display()))?;
        f.write_all(secret.as_bytes())
            .with_context(|| format!("writing {}", key.display()))?;
    }
    std::fs::write(&pub_, &public).with_context(|| format!("writing {}", pub_.display()))?;
    eprintln!(
        "wrote {} (secret: keep it to whoever signs) and {} (public: give it to the servers)\nkey id {}",
        key.display(),
        pub_.display(),
        glassbox::artifact::sign::key_id_of(&public)?
    );
    Ok(ExitCode::SUCCESS)
}

fn sign(key: &Path, model: &Path, output: Option<&Path>) -> Result<ExitCode> {
    let secret =
        std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let signed = glassbox::artifact::sign::sign(&bytes, &secret)
        .with_context(|| format!("signing {} with {}", model.display(), key.display()))?;
    let out = output.unwrap_or(model);
    // Beside the target, then renamed: a watching server never sees half a file.
    let tmp = out.with_extension("wasm.signing");
    std::fs::write(&tmp, &signed).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    let ids = glassbox::artifact::sign::signers(&signed)?;
    eprintln!("signed {} with key {}", out.display(), ids.join(", "));
    Ok(ExitCode::SUCCESS)
}

fn verify(keys: &[PathBuf], models: &[PathBuf]) -> Result<ExitCode> {
    let trusted = read_keys(keys)?;
    let mut refused = 0;
    for m in models {
        let bytes = std::fs::read(m).with_context(|| format!("reading {}", m.display()))?;
        match trusted.verify(&bytes) {
            Ok(signer) => println!("{}: signed by {signer}, verified", m.display()),
            Err(e) => {
                refused += 1;
                println!("{}: refused: {e}", m.display());
            }
        }
    }
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn inspect(engine: &Engine, name: &str, json: bool, keys: &[PathBuf]) -> Result<ExitCode> {
    let model = load(engine, name)?;
    let mut d = glassbox::describe(&model);
    // The signature, from the bytes themselves: who signed, and whether a
    // given key accepts it.
    let bytes = match examples::find(name) {
        Some(e) if !Path::new(name).exists() => e.component.to_vec(),
        _ => std::fs::read(name).with_context(|| format!("reading {name}"))?,
    };
    let signers = glassbox::artifact::sign::signers(&bytes).unwrap_or_default();
    let verdict = if keys.is_empty() {
        None
    } else {
        Some(read_keys(keys)?.verify(&bytes).map_err(|e| e.to_string()))
    };
    d["signature"] = serde_json::json!({
        "key_ids": signers,
        "verified": verdict.as_ref().map(Result::is_ok),
        "problem": verdict.as_ref().and_then(|v| v.as_ref().err()),
    });
    let precompiled = glassbox::artifact::precompiled::read(&bytes)
        .ok()
        .map(|p| p.header);
    d["precompiled"] = serde_json::to_value(&precompiled)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(ExitCode::SUCCESS);
    }
    let info = model.info();
    println!("name:     {}", info.name);
    println!("version:  {}", info.version);
    println!("task:     {}", d["task"].as_str().unwrap_or_default());
    println!("digest:   {}", d["digest"].as_str().unwrap_or_default());
    println!("size:     {} bytes", model.size());
    if let Some(p) = &precompiled {
        println!(
            "code:     precompiled for {} by glassbox {} ({} bytes in all)",
            p.target,
            p.glassbox,
            bytes.len()
        );
    }
    let imports = model.imports();
    println!(
        "imports:  {}",
        if imports.is_empty() {
            "none".to_string()
        } else {
            imports.join(", ")
        }
    );
    match &info.outputs {
        glassbox::Outputs::Classes(c) => {
            println!("outputs:  {} classes: {}", c.len(), c.join(", "))
        }
        glassbox::Outputs::DecisionClasses(c) => {
            println!(
                "outputs:  {} classes, with decision scores: {}",
                c.len(),
                c.join(", ")
            )
        }
        glassbox::Outputs::Target(t) => println!("outputs:  value of `{t}`"),
    }
    if let Some(s) = model.source() {
        println!(
            "source:   ONNX sha256:{} ({} bytes, {}), compiled by {}",
            s.onnx_sha256, s.onnx_bytes, s.producer, s.compiled_by
        );
        println!("          operators {}", s.operators.join(", "));
    }
    let signed = if signers.is_empty() {
        "not signed".to_string()
    } else {
        format!("signed by key {}", signers.join(", "))
    };
    match &verdict {
        None if signers.is_empty() => println!("signature: {signed}"),
        None => println!("signature: {signed} (not checked: give --key PUB)"),
        Some(Ok(signer)) => println!("signature: signed by {signer}, verified"),
        Some(Err(problem)) => println!("signature: {signed}; refused: {problem}"),
    }
    println!(
        "profile:  {}",
        if info.profile.is_some() {
            "training profile included"
        } else {
            "none"
        }
    );
    match model.expectations() {
        Some(e) => {
            println!("owner:    {} <{}>", e.owner, e.contact);
            println!("expects:");
            for line in e.describe() {
                println!("  {line}");
            }
        }
        None => println!("expects:  nothing beyond the schema"),
    }
    println!("inputs:   {} fields", info.inputs.len());
    for f in &info.inputs {
        let kind = match f.kind {
            glassbox::FeatureKind::Numeric => "numeric".to_string(),
            glassbox::FeatureKind::Categorical => {
                format!("categorical [{}]", f.categories.join(", "))
            }
        };
        let nullable = if f.nullable { ", may be missing" } else { "" };
        println!("  {:<24} {kind}{nullable}", f.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// One input line: a row to score, or the reason it cannot be.
enum Line {
    Row(Row),
    Bad(String),
}

fn score(
    engine: &Engine,
    model_arg: &str,
    rows: Option<&Path>,
    batch_size: usize,
) -> Result<ExitCode> {
    let model = load(engine, model_arg)?;
    let input: Box<dyn BufRead> = match rows {
        Some(p) if p != Path::new("-") => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        None if examples::find(model_arg).is_some() && !Path::new(model_arg).exists() => {
            let example = examples::find(model_arg).map_or("", |e| e.sample_rows);
            eprintln!("scoring the bundled sample rows of `{model_arg}`");
            Box::new(example.as_bytes())
        }
        _ => Box::new(std::io::stdin().lock()),
    };
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let (mut scored, mut failed, mut row) = (0usize, 0usize, 0usize);
    let mut chunk: Vec<Line> = Vec::with_capacity(batch_size);
    let mut lines = input.lines();
    loop {
        let next = lines.next();
        let at_end = next.is_none();
        if let Some(line) = next {
            let line = line.context("reading rows")?;
            if line.trim().is_empty() {
                continue;
            }
            chunk.push(match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(serde_json::Value::Object(map)) => Line::Row(map),
                Ok(_) => Line::Bad("expected a JSON object keyed by feature name".into()),
                Err(e) => Line::Bad(format!("not valid JSON: {e}")),
            });
            if chunk.len() < batch_size {
                continue;
            }
        }
        if !chunk.is_empty() {
            let results = score_chunk(&model, row, &chunk);
            for r in results {
                match r {
                    Ok(p) => {
                        scored += 1;
                        serde_json::to_writer(&mut out, &p)?;
                    }
                    Err(message) => {
                        failed += 1;
                        serde_json::to_writer(
                            &mut out,
                            &serde_json::json!({"row": row, "error": message}),
                        )?;
                    }
                }
                out.write_all(b"\n")?;
                row += 1;
            }
            chunk.clear();
        }
        if at_end {
            break;
        }
    }
    out.flush()?;
    eprintln!(
        "{}: scored {scored} rows, {failed} with errors, in {:.1} ms",
        model.name(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Scores the good rows of a chunk in one call; bad rows get their problems.
fn score_chunk(model: &Model, first_row: usize, chunk: &[Line]) -> Vec<Result<Prediction, String>> {
    let mut results: Vec<Option<Result<Prediction, String>>> = chunk
        .iter()
        .enumerate()
        .map(|(i, l)| match l {
            Line::Bad(why) => Some(Err(format!("row {}: {why}", first_row + i))),
            Line::Row(_) => None,
        })
        .collect();
    let mut good: Vec<(usize, &Row)> = chunk
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l {
            Line::Row(r) => Some((i, r)),
            Line::Bad(_) => None,
        })
        .collect();
    // Take out the rows that break the contract, each with all its problems.
    // Row by row: an error lists only the first problems of a batch, and
    // every bad row must be found.
    let rows: Vec<Row> = good.iter().map(|(_, r)| (*r).clone()).collect();
    if glassbox::runtime::batch::from_rows(model.info(), &rows).is_err() {
        let mut all = glassbox::Violations::new();
        let mut bad = std::collections::BTreeSet::new();
        for (i, row) in &good {
            if let Err(violations) =
                glassbox::runtime::batch::from_rows(model.info(), std::slice::from_ref(row))
            {
                let mut problems: Vec<String> = violations
                    .iter()
                    .map(|v| {
                        let mut v = v.clone();
                        v.row = first_row + i;
                        all.push(v.clone());
                        v.to_string()
                    })
                    .collect();
                if violations.omitted() > 0 {
                    problems.push(format!("… and {} more", violations.omitted()));
                }
                results[*i] = Some(Err(problems.join("; ")));
                bad.insert(*i);
            }
        }
        // Refused rows are skipped, not scored, but they count in the
        // model's telemetry like any refused call.
        model.refuse(rows.len(), all);
        good.retain(|(i, _)| !bad.contains(i));
    }
    if !good.is_empty() {
        let rows: Vec<Row> = good.iter().map(|(_, r)| (*r).clone()).collect();
        match model.score_rows(&rows) {
            Ok(predictions) => {
                for ((i, _), p) in good.iter().zip(predictions) {
                    results[*i] = Some(match p {
                        Prediction::Invalid { error } => Err(format!(
                            "row {}: the model's answer is unusable: {error}",
                            first_row + i
                        )),
                        p => Ok(p),
                    });
                }
            }
            // The call as a whole failed (a trap, a timeout, …): which row
            // caused it is unknown, so every row of the call reports it.
            Err(e) => {
                for (i, _) in &good {
                    results[*i] = Some(Err(e.to_string()));
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("row was not scored".into())))
        .collect()
}

/// Log lines to stderr, at `GLASSBOX_LOG`'s level or `default`.
fn init_logging(default: tracing::Level) {
    let level = match std::env::var("GLASSBOX_LOG").as_deref() {
        Ok("error") => tracing::Level::ERROR,
        Ok("warn") => tracing::Level::WARN,
        Ok("info") => tracing::Level::INFO,
        Ok("debug") => tracing::Level::DEBUG,
        _ => default,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        // By default a failed write is reported with eprintln!, which panics
        // when stderr is closed (the terminal or the reading process gone).
        .log_internal_errors(false)
        .init();
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    use glassbox::serve::{Config, Server};
    init_logging(tracing::Level::INFO);
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.apply_env()?;
    if !args.sources.is_empty() {
        config.models = args.sources.clone();
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(ms) = args.deadline_ms {
        config.model_limits.deadline = Duration::from_millis(ms);
    }
    if let Some(n) = args.max_concurrent_requests {
        config.limits.max_concurrent_requests = n;
    }
    config
        .trusted_keys
        .extend(args.trusted_keys.iter().cloned());
    config
        .insecure_registries
        .extend(args.insecure_registries.iter().cloned());
    if let Some(dir) = &args.prediction_log {
        config.prediction_log.dir = Some(dir.clone());
    }
    if let Some(rate) = args.log_sample_rate {
        config.prediction_log.sample_rate = rate;
    }
    if args.no_cache {
        config.cache_dir = None;
    } else if config.cache_dir.is_none() {
        config.cache_dir = EngineBuilder::default_cache_dir();
    }
    // Untrusted components compile in a child process under a budget.
    #[cfg(feature = "compiler")]
    if config.compile_helper.is_none() {
        config.compile_helper = std::env::current_exe().ok();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("glassbox-serve")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let started = Instant::now();
        let server = Server::bind(config).await?;
        let addr = server.local_addr();
        let snapshot = server.service().registry().snapshot();
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "glassbox serve: {} model version(s) ready in {:.2} s, listening on http://{addr}",
            snapshot.len(),
            started.elapsed().as_secs_f64()
        )?;
        writeln!(out, "  open:  http://{addr}/")?;
        if let Some(first) = snapshot.names().next().and_then(|n| snapshot.get(n, None)) {
            let row = example_row(first.model());
            writeln!(
                out,
                "  try:   curl -s http://{addr}/v1/models/{}:predict -d '{{\"instances\": [{row}]}}'",
                first.name()
            )?;
        }
        writeln!(out, "  stop:  Ctrl-C (in-flight requests are drained)")?;
        out.flush()?;
        drop(out);
        server.run(glassbox::serve::shutdown_signal()).await?;
        // stderr may be closed by now; that is no reason to fail.
        let _ = writeln!(std::io::stderr(), "glassbox serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// A row to show in the curl command: the example's first sample row, or
/// zeros and first categories.
fn example_row(model: &Model) -> String {
    if let Some(e) = examples::find(model.name())
        && let Some(line) = e.sample_rows.lines().find(|l| !l.trim().is_empty())
    {
        return line.trim().to_string();
    }
    let row: serde_json::Map<String, serde_json::Value> = model
        .info()
        .inputs
        .iter()
        .map(|f| {
            let v = match f.kind {
                glassbox::FeatureKind::Numeric => serde_json::json!(0.0),
                glassbox::FeatureKind::Categorical => f
                    .categories
                    .first()
                    .map_or(serde_json::Value::Null, |c| serde_json::json!(c)),
            };
            (f.name.clone(), v)
        })
        .collect();
    serde_json::Value::Object(row).to_string()
}
