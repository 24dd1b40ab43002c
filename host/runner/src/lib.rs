//! The runner: a Glassbox model that runs whichever ONNX pipeline it was
//! initialised with.
//!
//! `glassbox compile` instantiates this module once, hands it the pipeline
//! through [`glassbox_init`], and snapshots its memory into a new module's
//! data segments (see the host's `compile` module). The snapshot's memory
//! already holds the planned graph, so a compiled model never parses ONNX:
//! instantiating it maps the data copy-on-write and the first call scores.
//!
//! The package handed to `glassbox_init` is
//! `[u32 length][postcard-encoded ModelInfo][u8 answers][u32 count][count × u32 code][ONNX bytes]`,
//! integers little-endian, the answers byte being
//! [`glassbox_onnx::Answers::to_byte`], and `code` for each tree ensemble
//! the function table index of the code `glassbox compile` generated for
//! it, or 0 where the ensemble keeps the data walk (the functions are added
//! to the module after the snapshot).

use std::sync::OnceLock;

use glassbox_guest::prelude::*;
use glassbox_onnx::{Answers, Program};

#[derive(Clone)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "only the wasm build exports the model")
)]
struct Loaded {
    info: ModelInfo,
    program: Program,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// Where an error message from [`glassbox_init`] is left for the host:
/// `[u32 length][UTF-8 bytes]`.
static mut ERROR: Vec<u8> = Vec::new();

fn init(package: &[u8]) -> Result<Loaded, String> {
    let (len, rest) = package
        .split_first_chunk::<4>()
        .ok_or("the package is shorter than its header")?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err("the package's model description is truncated".into());
    }
    let (info, rest) = rest.split_at(len);
    let (&answers, rest) = rest
        .split_first()
        .ok_or("the package has no answers byte")?;
    let (count, rest) = rest
        .split_first_chunk::<4>()
        .ok_or("the package has no count of tree codes")?;
    let count = u32::from_le_bytes(*count) as usize;
    if rest.len() / 4 < count {
        return Err("the package's tree codes are truncated".into());
    }
    let (codes, onnx) = rest.split_at(count * 4);
    let codes: Vec<Option<u32>> = codes
        .chunks_exact(4)
        .map(|c| Some(u32::from_le_bytes([c[0], c[1], c[2], c[3]])).filter(|&i| i != 0))
        .collect();
    let info: ModelInfo =
        postcard::from_bytes(info).map_err(|e| format!("bad model description: {e}"))?;
    // Large constant products go to the host: `glassbox compile` wrote
    // their weights into the component from the same plan.
    let mut program = Program::new(onnx, &info.inputs)
        .map_err(|e| e.to_string())?
        .with_answers(Answers::from_byte(answers))
        .with_host_linalg();
    if codes.len() != program.tree_ensembles().len() {
        return Err("the package's tree codes do not match the graph's ensembles".into());
    }
    program = program.with_tree_code(&codes);
    if info.layout == NumericLayout::F32Rows && !program.takes_f32_rows() {
        return Err(
            "the model description asks for float32 rows, which the graph does not take".into(),
        );
    }
    if program.task() != info.task {
        return Err("the graph's task does not match the model description".into());
    }
    let declared = match &info.outputs {
        Outputs::Classes(c) if program.answers() == Answers::Probabilities => Some(c),
        Outputs::DecisionClasses(c) if program.answers() != Answers::Probabilities => Some(c),
        Outputs::Target(_) => None,
        _ => return Err("the answers byte does not match the model description".into()),
    };
    // Labels the graph computes without naming a class list: the compile
    // inferred the classes from the training rows.
    if let (Some([]), Some(declared)) = (program.classes(), declared) {
        program = program.with_classes(declared.clone());
    }
    if let (Some(classes), Some(declared)) = (program.classes(), declared)
        && classes != declared.as_slice()
    {
        return Err("the graph's classes do not match the model description".into());
    }
    Ok(Loaded { info, program })
}

/// Plans the pipeline in `package` (which the host wrote at `ptr` through
/// `cabi_realloc`). Returns 0, or the address of an error message. The
/// package's memory (and everything planning frees) is zeroed as it is
/// freed, so that it does not end up in the snapshot.
///
/// # Safety
///
/// `ptr` must be an allocation of `len` bytes obtained from `cabi_realloc`
/// with alignment 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn glassbox_init(ptr: *mut u8, len: usize) -> *const u8 {
    // SAFETY: the caller passes an allocation of exactly `len` bytes made by
    // this module's allocator with alignment 1, which is what Vec<u8> uses.
    let package = unsafe { Vec::from_raw_parts(ptr, len, len) };
    zeroing::ON.store(true, std::sync::atomic::Ordering::Relaxed);
    let result = init(&package).and_then(|planned| {
        // Compact: copy the plan past everything planning left behind,
        // free the original (the arena's start is then all zero), and copy
        // it back to the start. What remains is the plan, contiguous, at
        // the bottom of the arena; the host cuts memory just above it.
        zeroing::mark();
        let copy = planned.clone();
        drop(planned);
        zeroing::rewind();
        let compact = copy.clone();
        drop(copy);
        zeroing::seal();
        LOADED
            .set(compact)
            .map_err(|_| "the runner was initialised twice".to_string())
    });
    drop(package);
    zeroing::ON.store(false, std::sync::atomic::Ordering::Relaxed);
    match result {
        Ok(()) => std::ptr::null(),
        Err(message) => {
            let mut buf = (message.len() as u32).to_le_bytes().to_vec();
            buf.extend_from_slice(message.as_bytes());
            // SAFETY: single-threaded wasm; nothing else touches ERROR.
            unsafe {
                let slot = &raw mut ERROR;
                *slot = buf;
                (*slot).as_ptr()
            }
        }
    }
}

/// The end of the memory the initialised runner uses: the host makes this
/// (rounded up to a page) the snapshot's memory size.
#[unsafe(no_mangle)]
pub extern "C" fn glassbox_heap_end() -> usize {
    zeroing::end()
}

#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "only the wasm build exports the model")
)]
struct Runner(&'static Loaded);

impl Model for Runner {
    fn load() -> Self {
        Runner(
            LOADED
                .get()
                .expect("this runner was never initialised with a pipeline; compile one with `glassbox compile`"),
        )
    }

    fn info(&self) -> ModelInfo {
        self.0.info.clone()
    }

    fn inputs(&self) -> std::borrow::Cow<'_, [Field]> {
        // The planned model's own: a fresh instance clones nothing.
        std::borrow::Cow::Borrowed(&self.0.info.inputs)
    }

    fn score(&self, batch: &Batch<'_>) -> Result<Scores, ModelError> {
        self.0.program.score(batch)
    }

    fn score_f32_rows(
        &self,
        _fields: &[Field],
        rows: usize,
        values: Vec<f32>,
    ) -> Result<Scores, ModelError> {
        // The host's matrix becomes the graph's input as it is: no copy.
        self.0.program.score_f32_rows(rows, values)
    }
}

glassbox_guest::export_model!(Runner);

/// The allocator: while [`glassbox_init`] runs, a bump arena whose freed
/// blocks are zeroed; otherwise the standard allocator.
///
/// Parsing an ONNX file allocates and frees far more than the planned model
/// keeps, and a snapshot keeps every nonzero byte. In a bump arena nothing
/// freed is reused, so once freed blocks are zeroed only the live model is
/// left nonzero: the component's data segments hold the model and little
/// else. The standard allocator instead reuses freed space, interleaving
/// live data with its free-list bookkeeping, which tripled the size of a
/// compiled random forest. The arena's pages are never handed back: they
/// are zero, so copy-on-write leaves them untouched.
mod zeroing {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

    pub static ON: AtomicBool = AtomicBool::new(false);

    const PAGE: usize = 65536;
    static START: AtomicUsize = AtomicUsize::new(0);
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static END: AtomicUsize = AtomicUsize::new(0);
    /// After [`rewind`], the span `[HOLE_START, HOLE_END)` is still in use
    /// (the plan's first copy): allocations jump over it.
    static HOLE_START: AtomicUsize = AtomicUsize::new(usize::MAX);
    static HOLE_END: AtomicUsize = AtomicUsize::new(0);

    /// Starts allocating from the arena's start again. Everything allocated
    /// since [`rewind`]'s caller last copied must be free, except the span
    /// allocated most recently, which becomes a hole to skip.
    pub fn rewind() {
        HOLE_END.store(NEXT.load(Relaxed), Relaxed);
        NEXT.store(START.load(Relaxed), Relaxed);
    }

    /// Ends the arena at the last allocation: memory above it is the
    /// standard allocator's from now on (the host cuts memory there).
    pub fn seal() {
        // The first copy (above) has been freed and zeroed.
        END.store(NEXT.load(Relaxed), Relaxed);
        HOLE_START.store(usize::MAX, Relaxed);
        HOLE_END.store(0, Relaxed);
    }

    /// Where the arena ends (0 if it was never used).
    pub fn end() -> usize {
        END.load(Relaxed)
    }

    /// Marks where the copy that [`rewind`] keeps starts.
    pub fn mark() {
        HOLE_START.store(NEXT.load(Relaxed), Relaxed);
    }

    fn in_arena(ptr: *mut u8) -> bool {
        let p = ptr as usize;
        (START.load(Relaxed)..END.load(Relaxed)).contains(&p)
    }

    #[cfg(target_arch = "wasm32")]
    fn grow(pages: usize) -> Option<usize> {
        let old = core::arch::wasm32::memory_grow(0, pages);
        (old != usize::MAX).then_some(old * PAGE)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn grow(_: usize) -> Option<usize> {
        None
    }

    fn bump(layout: Layout) -> *mut u8 {
        let align = layout.align().max(8);
        let mut at = NEXT.load(Relaxed).next_multiple_of(align);
        if at < HOLE_END.load(Relaxed) && at + layout.size() > HOLE_START.load(Relaxed) {
            at = HOLE_END.load(Relaxed).next_multiple_of(align);
        }
        let end = END.load(Relaxed);
        if END.load(Relaxed) == 0 || at + layout.size() > end {
            // Grow by what is needed plus 1 MiB, to grow rarely.
            let need = layout.size() + align + (1 << 20);
            let Some(base) = grow(need.div_ceil(PAGE)) else {
                return std::ptr::null_mut();
            };
            if base != end {
                // Not contiguous with the arena so far (or the first grow):
                // start afresh here. Earlier blocks stay where they are.
                if START.load(Relaxed) == 0 {
                    START.store(base, Relaxed);
                }
                at = base.next_multiple_of(align);
            }
            END.store(base + need.div_ceil(PAGE) * PAGE, Relaxed);
        }
        NEXT.store(at + layout.size(), Relaxed);
        at as *mut u8
    }

    /// Small blocks, after initialisation, come from per-size free lists:
    /// a call allocates and frees dozens of small tensors and vectors, and
    /// the standard allocator's (dlmalloc's) bookkeeping for each was a
    /// sixth of a one-row call. A freed block goes on its size class's
    /// list and the next allocation of that class takes it back: a few
    /// instructions each way. Blocks are never returned, so the lists hold
    /// at most what a call had live at its peak, and a fresh instance
    /// starts with the snapshot's (empty) lists.
    /// Classes are 8 bytes apart, up to 512: wasm's standard allocator
    /// takes alignments up to 8 on its fast path.
    const CLASS: usize = 8;
    const CLASSES: usize = 64;

    /// The head of each class's list (0 for empty); a free block holds the
    /// address of the next.
    static FREE: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];

    /// The class of blocks of `layout`, if they are small.
    fn class(layout: Layout) -> Option<usize> {
        (layout.size() <= CLASS * CLASSES && layout.align() <= CLASS)
            .then(|| layout.size().max(1).div_ceil(CLASS) - 1)
    }

    /// The layout a block of `layout` really has: small ones take their
    /// whole class, so that any request of the class can reuse them.
    fn actual(layout: Layout) -> Layout {
        match class(layout) {
            // SAFETY: a multiple of 8 up to 512, alignment 8.
            Some(c) => unsafe { Layout::from_size_align_unchecked((c + 1) * CLASS, CLASS) },
            None => layout,
        }
    }

    pub struct Zeroing;

    // SAFETY: arena blocks are disjoint (bump allocation) and never reused;
    // a block on a free list is free (taken off before it is handed out,
    // and only blocks of its class's size go on it: `actual`); everything
    // else is the system allocator's.
    unsafe impl GlobalAlloc for Zeroing {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if ON.load(Relaxed) {
                return bump(layout);
            }
            if let Some(c) = class(layout) {
                let head = FREE[c].load(Relaxed);
                if head != 0 {
                    // SAFETY: a listed block is free and starts with the
                    // next block's address.
                    FREE[c].store(unsafe { *(head as *const usize) }, Relaxed);
                    return head as *mut u8;
                }
            }
            // SAFETY: forwarded contract, with the block's real layout.
            unsafe { System.alloc(actual(layout)) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if in_arena(ptr) {
                // Arena blocks are never reused; zero them for the snapshot.
                // SAFETY: `ptr` is a live block of `layout.size()` bytes.
                unsafe { ptr.write_bytes(0, layout.size()) };
                return;
            }
            if ON.load(Relaxed) {
                // A block from before initialisation (the package).
                // SAFETY: as above, and it was allocated as `actual`.
                unsafe { ptr.write_bytes(0, actual(layout).size()) };
            } else if let Some(c) = class(layout) {
                // SAFETY: the block is free now and at least a word long.
                unsafe { *(ptr as *mut usize) = FREE[c].load(Relaxed) };
                FREE[c].store(ptr as usize, Relaxed);
                return;
            }
            // SAFETY: forwarded contract, with the block's real layout.
            unsafe { System.dealloc(ptr, actual(layout)) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: the caller guarantees a valid size for the alignment.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            if !ON.load(Relaxed) && !in_arena(ptr) {
                match (class(layout), class(new_layout)) {
                    // Within its class: the block already has the room.
                    (Some(a), Some(b)) if a == b => return ptr,
                    // SAFETY: forwarded contract; neither is small.
                    (None, None) => return unsafe { System.realloc(ptr, layout, new_size) },
                    _ => {}
                }
            }
            // SAFETY: both blocks are live for the copy.
            unsafe {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[global_allocator]
static ALLOCATOR: zeroing::Zeroing = zeroing::Zeroing;
