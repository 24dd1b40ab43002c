//! Hostile models, by class of attack (the security issue's sandbox items):
//! each class fails safely, bounded by what the file really holds and what
//! the request really sent. Fixtures that need a guest's behaviour are
//! crates in tests/fixtures; components that no toolchain would emit (a
//! world importing an interface the host does not grant, a memory image
//! declared far larger than its data) are built here, byte by byte.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use glassbox::{Engine, Error, LogSink, ModelError};
use glassbox_fixtures as fx;
use serde_json::json;

use crate::util;

#[test]
fn a_schema_bomb_is_refused_at_load_naming_the_limit() {
    let started = Instant::now();
    let err = util::engine().load_file(fx::SCHEMA_BOMB).unwrap_err();
    assert!(matches!(err, Error::InvalidInfo { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("20001 input fields") && text.contains("the limit is 10000"),
        "{text}"
    );
    // Refused in about the time a normal model takes to load, not in the
    // time of walking a huge schema.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_flood_of_guest_problems_is_cut_to_the_first_hundred_and_counted() {
    // A million problems need more than the test engine's 32 MiB.
    let model = Engine::new().unwrap().load_file(fx::FLOODS_ERRORS).unwrap();
    let err = model
        .score_rows(&util::rows(&[json!({"x": 1.0})]))
        .unwrap_err();
    let Error::Guest {
        error: ModelError::InvalidInput(problems),
        omitted,
        ..
    } = &err
    else {
        panic!("expected the guest's invalid-input error, got {err}");
    };
    assert_eq!(problems.len(), glassbox::Violations::LISTED);
    assert_eq!(*omitted, 1_000_000 - glassbox::Violations::LISTED);
    let text = err.to_string();
    assert!(text.len() < 16 << 10, "{} bytes", text.len());
    assert!(text.contains("and 999900 more"), "{text}");
    // The guest's newlines are escaped, not passed on.
    assert!(problems.iter().all(|p| !p.message.contains('\n')));
    // And the model serves the next call.
    assert!(model.score_rows(&util::rows(&[json!({"x": 0.0})])).is_ok());
}

#[test]
fn a_huge_guest_message_is_cut_and_its_control_characters_escaped() {
    let model = util::load(fx::FLOODS_ERRORS);
    let err = model
        .score_rows(&util::rows(&[json!({"x": 2.0})]))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.len() < 8 << 10, "{} bytes", text.len());
    assert!(text.contains("more bytes)"), "says what was cut: {text}");
    assert!(
        !text.contains('\n') && !text.contains('\u{1b}'),
        "no raw control characters: {text:?}"
    );
    assert!(text.contains("\\u{a}"), "newlines shown escaped: {text}");
}

#[test]
fn a_guest_log_line_cannot_forge_a_host_line() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = {
        let lines = lines.clone();
        LogSink::new(move |model, _, message| {
            lines.lock().unwrap().push(format!("[{model}] {message}"));
        })
    };
    let engine = Engine::builder().log_sink(sink).build().unwrap();
    let model = engine.load_file(fx::FLOODS_ERRORS).unwrap();
    model.score_rows(&util::rows(&[json!({"x": 3.0})])).unwrap();
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.starts_with("[floods-errors] scoring"), "{line}");
    assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
}

/// A component of the world `wit` (which names itself `hostile`) whose
/// functions all trap: enough for the load checks, which never call them.
fn component_of_world(wit: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("hostile.wit", wit).unwrap();
    let world = resolve.select_world(&[package], Some("hostile")).unwrap();
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

#[test]
fn an_import_the_host_does_not_grant_is_named_as_such() {
    let component = component_of_world(
        "package glassbox:model@0.2.0;
         interface fs { read: func(path: string) -> string; }
         world hostile { import fs; }",
    );
    let err = util::engine().load(&component).unwrap_err();
    assert!(matches!(err, Error::ForbiddenImports { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("glassbox:model/fs@0.2.0") && text.contains("does not grant"),
        "{text}"
    );
    assert!(
        !text.contains("this host speaks"),
        "not a version mismatch: {text}"
    );
}

/// A component holding `modules` core modules, each with a 256 MiB memory
/// and one byte of data at each end of its first 255 MiB.
fn memory_image_bomb(modules: usize) -> Vec<u8> {
    use wasm_encoder::{
        Component, ConstExpr, DataSection, InstanceSection, MemorySection, MemoryType, Module,
        ModuleArg, ModuleSection,
    };
    const PAGES: u64 = (256 << 20) / 65_536;
    let mut module = Module::new();
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: PAGES,
        maximum: Some(PAGES),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(0), [1u8]);
    data.active(0, &ConstExpr::i32_const(255 << 20), [1u8]);
    module.section(&data);
    let mut component = Component::new();
    for _ in 0..modules {
        component.section(&ModuleSection(&module));
    }
    // Instantiated by the component (though the component itself is never
    // instantiated by the host): what a real model's modules would be.
    let mut instances = InstanceSection::new();
    for m in 0..modules as u32 {
        instances.instantiate(m, Vec::<(&str, ModuleArg)>::new());
    }
    component.section(&instances);
    component.finish()
}

#[test]
fn a_memory_image_costs_what_the_file_holds_not_what_it_declares() {
    let bomb = memory_image_bomb(4);
    assert!(bomb.len() < 1024, "{} bytes", bomb.len());
    let cache = std::env::temp_dir().join(format!("glassbox-image-bomb-{}", std::process::id()));
    let engine = Engine::builder()
        .limits(glassbox::Limits {
            memory_bytes: 256 << 20,
            ..glassbox::Limits::default()
        })
        .cache_dir(&cache)
        .build()
        .unwrap();
    let started = Instant::now();
    // Not a model (it exports nothing), but compiled and cached first.
    let err = engine.load(&bomb).unwrap_err();
    assert!(matches!(err, Error::WrongWorld { .. }), "{err}");
    let cached: u64 = std::fs::read_dir(&cache)
        .map(|d| d.map(|e| e.unwrap().metadata().unwrap().len()).sum())
        .unwrap_or(0);
    println!(
        "memory-image bomb: {} bytes of file, {cached} bytes of code cache, {:?}",
        bomb.len(),
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&cache);
    // Four 255 MiB images were a 1 GiB cache file (and as much memory), for
    // 8 s of compiling, before the engine bounded dense images.
    assert!(cached < 1 << 20, "{cached} bytes cached");
}

#[test]
fn no_call_sees_what_an_earlier_call_left_in_the_instance() {
    let score = |model: &glassbox::Model, x: f64| {
        let p = model.score_rows(&util::rows(&[json!({"x": x})])).unwrap();
        match p[0] {
            glassbox::Prediction::Value { value } => value,
            ref other => panic!("{other:?}"),
        }
    };
    // Client A's value, then client B's call: B must not get A's value.
    let model = util::load(fx::LEAKS_BETWEEN_CALLS);
    for secret in [42.0, 7.0, 1e9] {
        score(&model, secret);
        assert_eq!(score(&model, 0.0), 0.0, "a later call saw {secret}");
    }
    // Reuse, when an operator opts in, is what lets it through: the risk
    // the option's documentation states.
    let reusing = Engine::builder()
        .limits(glassbox::Limits {
            reuse_instances: true,
            ..glassbox::Limits::default()
        })
        .build()
        .unwrap()
        .load_file(fx::LEAKS_BETWEEN_CALLS)
        .unwrap();
    score(&reusing, 42.0);
    assert_eq!(score(&reusing, 0.0), 42.0);
}

#[test]
fn guest_memory_over_all_instances_stays_within_the_budget() {
    // Each instance may have 32 MiB; all of them together 48 MiB.
    let engine = Engine::builder()
        .limits(glassbox::Limits {
            memory_bytes: 32 << 20,
            memory_budget_bytes: 48 << 20,
            ..glassbox::Limits::default()
        })
        .build()
        .unwrap();
    let model = engine.load_file(fx::GROWS_MEMORY).unwrap();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let model = model.clone();
            std::thread::spawn(move || {
                model
                    .score_rows(&util::rows(&[json!({"x": 1.0})]))
                    .unwrap_err()
            })
        })
        .collect();
    let mut by_budget = 0;
    for call in calls {
        match call.join().expect("a failed call, not a crash") {
            Error::OutOfMemory { .. } => {}
            Error::MemoryBudget { budget, .. } => {
                assert_eq!(budget, 48 << 20);
                by_budget += 1;
            }
            other => panic!("{other}"),
        }
    }
    println!(
        "4 parallel calls growing to 32 MiB under a 48 MiB budget: {by_budget} stopped by the budget"
    );
    // Every instance is gone, and its memory with it.
    assert_eq!(engine.guest_memory_in_use(), 0);
    assert!(model.score_rows(&util::rows(&[json!({"x": 0.0})])).is_ok());
    assert_eq!(engine.guest_memory_in_use(), 0);

    // A budget smaller than one instance's memory stops even one call.
    let tight = Engine::builder()
        .limits(glassbox::Limits {
            memory_bytes: 32 << 20,
            memory_budget_bytes: 8 << 20,
            ..glassbox::Limits::default()
        })
        .build()
        .unwrap();
    let model = tight.load_file(fx::GROWS_MEMORY).unwrap();
    let err = model
        .score_rows(&util::rows(&[json!({"x": 1.0})]))
        .unwrap_err();
    assert!(matches!(err, Error::MemoryBudget { .. }), "{err}");
    assert!(
        err.to_string().contains("limits.memory_budget_bytes"),
        "{err}"
    );
}

/// A component whose one function (never called) has `locals` locals all
/// live across `depth` nested loops: small as a file, very costly for
/// Cranelift to compile.
pub(crate) fn compile_bomb(locals: u32, depth: u32) -> Vec<u8> {
    use wasm_encoder::{
        BlockType, CodeSection, Component, Function, FunctionSection, InstanceSection, Instruction,
        Module, ModuleArg, ModuleSection, TypeSection, ValType,
    };
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    module.section(&types);
    let mut functions = FunctionSection::new();
    functions.function(0);
    module.section(&functions);
    let mut body = Function::new([(locals, ValType::I32)]);
    for _ in 0..depth {
        body.instruction(&Instruction::Loop(BlockType::Empty));
    }
    // local[i] = local[i] + local[i + 1]: each local is read before it is
    // written, so all of them are live around each loop.
    for i in 0..locals {
        body.instruction(&Instruction::LocalGet(i));
        body.instruction(&Instruction::LocalGet((i + 1) % locals));
        body.instruction(&Instruction::I32Add);
        body.instruction(&Instruction::LocalSet(i));
    }
    // Each loop branches back to its start, so every local is live around
    // every loop: one SSA value per local per loop header.
    for level in 0..depth {
        body.instruction(&Instruction::LocalGet(level % locals));
        body.instruction(&Instruction::BrIf(0));
        body.instruction(&Instruction::End);
    }
    body.instruction(&Instruction::End);
    let mut code = CodeSection::new();
    code.function(&body);
    module.section(&code);
    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    let mut instances = InstanceSection::new();
    instances.instantiate(0, Vec::<(&str, ModuleArg)>::new());
    component.section(&instances);
    component.finish()
}

#[test]
fn a_compile_bomb_is_stopped_at_the_compile_budget() {
    let bomb = compile_bomb(20_000, 100);
    println!("compile bomb: {} bytes", bomb.len());
    let engine = |limits: glassbox::Limits| {
        Engine::builder()
            .limits(limits)
            .compile_with(env!("CARGO_BIN_EXE_glassbox"))
            .build()
            .unwrap()
    };
    // Stopped by time...
    let started = Instant::now();
    let err = engine(glassbox::Limits {
        compile_timeout: Duration::from_secs(2),
        ..glassbox::Limits::default()
    })
    .load(&bomb)
    .unwrap_err();
    println!("stopped by time after {:?}: {err}", started.elapsed());
    assert!(
        err.to_string().contains("limits.compile_timeout_ms"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // ...or by memory, whichever comes first.
    let started = Instant::now();
    let err = engine(glassbox::Limits {
        compile_memory_bytes: 256 << 20,
        compile_timeout: Duration::from_secs(60),
        ..glassbox::Limits::default()
    })
    .load(&bomb)
    .unwrap_err();
    println!("stopped by memory after {:?}: {err}", started.elapsed());
    assert!(
        err.to_string().contains("limits.compile_memory_bytes"),
        "{err}"
    );
    // A real model compiles the same way, within the same memory budget,
    // and answers as ever.
    let model = engine(glassbox::Limits {
        compile_memory_bytes: 256 << 20,
        ..glassbox::Limits::default()
    })
    .load(glassbox::examples::FRIEDMAN_TREE.component)
    .unwrap();
    assert!(
        model
            .score_rows(&util::rows(&[json!({
                "x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5, "x4": 0.5,
                "x5": 0.5, "x6": 0.5, "x7": 0.5, "x8": 0.5, "x9": 0.5
            })]))
            .is_ok()
    );
}
