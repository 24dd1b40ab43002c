//! The one `generate!` of the guest side. Model authors never touch this
//! module: [`crate::export_model!`] wires their [`crate::Model`] to it.

wit_bindgen::generate!({
    path: "../wit",
    world: "model",
    // The export macro must be reachable from the model's crate, and it must
    // find these bindings through our crate rather than the author's.
    pub_export_macro: true,
    default_bindings_module: "glassbox_guest::bindings",
    additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
});
