//! The example models, built from `examples/models/` and embedded in the
//! library: a default to run with no files at hand, and a fixture for docs.

/// An embedded example model.
#[derive(Clone, Copy, Debug)]
pub struct Example {
    /// The model's name, as `glassbox score NAME` accepts it.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// The component's bytes.
    pub component: &'static [u8],
    /// A few held-out rows, as JSON lines.
    pub sample_rows: &'static str,
}

/// Handwritten digits: scikit-learn `StandardScaler → LogisticRegression`, 64 pixels → 10 classes.
#[cfg(feature = "compiler")]
pub const DIGITS_LOGREG: Example = Example {
    name: "digits-logreg",
    description: "handwritten digits, StandardScaler + LogisticRegression (64 features, 10 classes)",
    component: include_bytes!(concat!(env!("OUT_DIR"), "/digits-logreg.wasm")),
    sample_rows: include_str!("../../examples/models/digits-logreg/sample.jsonl"),
};

/// Friedman #1: scikit-learn `DecisionTreeRegressor(max_depth=8)`, 10 features → 1 value.
#[cfg(feature = "compiler")]
pub const FRIEDMAN_TREE: Example = Example {
    name: "friedman-tree",
    description: "Friedman #1 regression, DecisionTreeRegressor of depth 8 (10 features)",
    component: include_bytes!(concat!(env!("OUT_DIR"), "/friedman-tree.wasm")),
    sample_rows: include_str!("../../examples/models/friedman-tree/sample.jsonl"),
};

/// Every embedded example: none in the runtime-only build, which has no
/// compiler to load a component with.
#[cfg(feature = "compiler")]
pub const ALL: &[Example] = &[DIGITS_LOGREG, FRIEDMAN_TREE];
/// Every embedded example: none in the runtime-only build, which has no
/// compiler to load a component with.
#[cfg(not(feature = "compiler"))]
pub const ALL: &[Example] = &[];

/// The example called `name`.
pub fn find(name: &str) -> Option<&'static Example> {
    ALL.iter().find(|e| e.name == name)
}
