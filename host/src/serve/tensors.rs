//! Input tensors into a column-major [`Batch`], whatever carried them, and
//! output tensors into raw bytes.
//!
//! A tensor's values arrive in one of three encodings ([`Values`]): JSON
//! `data` (REST), raw little-endian bytes (Triton's binary data extension
//! over HTTP, gRPC's `raw_input_contents`), or gRPC's typed contents. Raw
//! `BYTES` elements are each a 4-byte little-endian length and that many
//! bytes, as both Triton and the Open Inference Protocol define them.
//!
//! A request takes one of two forms:
//! - **one tensor per feature**, named like the feature, shape `[N]` or
//!   `[N, 1]`: a numeric type (`FP64`, `FP32`, `INT64`, …) for a numeric
//!   feature, `BYTES` for a categorical one;
//! - **one tensor of shape `[N, F]`**, any name, its `F` columns the model's
//!   inputs in schema order: what clients of scikit-learn model servers
//!   send (`input-0`, `input__0`). A numeric type when every input is
//!   numeric; `BYTES` always, numeric columns then holding numbers as
//!   decimal text (or JSON numbers).
//!
//! Every problem is found in one pass and reported together, each naming
//! its row and field. A floating-point NaN is a missing value (accepted
//! where the feature is nullable, like JSON `null`); an infinity is refused.
//! Every cost is linear in the request: nothing is read past the values the
//! shape announces.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use super::grpc::proto::InferTensorContents;
use super::oip::Elem;
use crate::{Batch, FeatureKind, ModelInfo};

/// An input tensor, borrowed from the request that carried it.
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    /// The feature's name, or any name in the `[N, F]` form.
    pub name: &'a str,
    /// `FP64`, `FP32`, `INT64`, … or `BYTES`.
    pub datatype: &'a str,
    /// `[N]`, `[N, 1]` or `[N, F]`.
    pub shape: &'a [i64],
    /// The values, row-major.
    pub values: Values<'a>,
}

/// A tensor's values in the encoding the request used.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    /// JSON `data`, flattened.
    Json(&'a [Elem]),
    /// Little-endian bytes of the datatype.
    Raw(&'a [u8]),
    /// gRPC's typed contents: the field of the datatype.
    Contents(&'a InferTensorContents),
}

/// One problem with a request: a row's value (`row` set) or a whole tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The row, when the problem is one value's.
    pub row: Option<usize>,
    /// The feature (tensor) name.
    pub field: String,
    /// What the contract wants.
    pub expected: String,
    /// What arrived.
    pub got: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(row) => write!(f, "row {row}, field `{}`", self.field)?,
            None => write!(f, "input `{}`", self.field)?,
        }
        write!(f, ": expected {}, got {}", self.expected, self.got)
    }
}

impl From<crate::Violation> for Problem {
    fn from(v: crate::Violation) -> Self {
        Problem {
            row: Some(v.row),
            field: v.field,
            expected: v.expected,
            got: v.got,
        }
    }
}

impl From<&Problem> for crate::Violation {
    /// A whole tensor's problem is row 0's, as in the library's own checks.
    fn from(p: &Problem) -> Self {
        crate::Violation {
            row: p.row.unwrap_or(0),
            field: p.field.clone(),
            expected: p.expected.clone(),
            got: p.got.clone(),
        }
    }
}

/// Why a request could not be turned into a batch.
#[derive(Debug)]
pub enum DecodeError {
    /// The tensors break the contract: the first [`Found::KEPT`] problems
    /// found, and how many there were in all.
    Problems {
        /// The problems kept, whole-tensor ones first, then by row.
        problems: Vec<Problem>,
        /// Every problem found, kept or not.
        total: usize,
    },
    /// More rows than the server's limit.
    TooManyRows(usize),
}

impl DecodeError {
    /// One problem.
    pub fn one(problem: Problem) -> Self {
        DecodeError::Problems {
            problems: vec![problem],
            total: 1,
        }
    }
}

/// The problems found in a request: the first [`Found::KEPT`] in full, the
/// rest counted. A body of a million bad values costs a count, not a
/// million descriptions (each some hundred bytes: 25 times the body).
#[derive(Debug, Default)]
pub struct Found {
    list: Vec<Problem>,
    total: usize,
}

impl Found {
    /// Problems kept in full.
    pub const KEPT: usize = 1000;

    fn push(&mut self, p: Problem) {
        self.total += 1;
        if self.list.len() < Self::KEPT {
            self.list.push(p);
        }
    }

    fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn len(&self) -> usize {
        self.total
    }
}

/// The datatypes a numeric feature takes.
pub const NUMERIC_TYPES: [&str; 11] = [
    "FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16",
    "UINT8",
];

/// The `[N, F]` form a model takes: its datatype (`FP64` when every input
/// is numeric, else `BYTES`) and `F`.
pub fn two_d_form(info: &ModelInfo) -> (&'static str, usize) {
    let numeric = info.inputs.iter().all(|f| f.kind == FeatureKind::Numeric);
    (if numeric { "FP64" } else { "BYTES" }, info.inputs.len())
}

/// Decodes the input tensors into a batch for `info`, checking them all
/// and reporting every problem at once.
pub fn decode(
    info: &ModelInfo,
    inputs: &[Tensor<'_>],
    max_rows: usize,
) -> Result<Batch, DecodeError> {
    match inputs {
        [t] if is_two_d(info, t) => decode_two_d(info, t, max_rows),
        _ => decode_per_feature(info, inputs, max_rows),
    }
}

/// Whether a lone tensor is the `[N, F]` form: two dimensions, and not a
/// feature's own `[N, 1]` tensor.
fn is_two_d(info: &ModelInfo, t: &Tensor<'_>) -> bool {
    match t.shape {
        [_, 1] => !info.inputs.iter().any(|f| f.name == t.name),
        [_, _] => true,
        _ => false,
    }
}

fn tensor_problem(field: &str, expected: String, got: String) -> Problem {
    Problem {
        row: None,
        field: field.to_string(),
        expected,
        got,
    }
}

/// The batch being built, column by column.
#[derive(Default)]
struct Columns<'a> {
    numeric: Vec<f64>,
    numeric_missing: Vec<u32>,
    dictionary: Vec<String>,
    codes: HashMap<&'a str, u32>,
    categorical: Vec<Option<u32>>,
}

impl Columns<'_> {
    fn into_batch(self, rows: usize) -> Batch {
        Batch {
            rows: rows as u32,
            numeric: self.numeric,
            numeric_missing: self.numeric_missing,
            dictionary: self.dictionary,
            categorical: self.categorical,
        }
    }
}

fn decode_per_feature<'a>(
    info: &ModelInfo,
    inputs: &[Tensor<'a>],
    max_rows: usize,
) -> Result<Batch, DecodeError> {
    let mut problems = Found::default();
    // Which tensor feeds which field.
    let mut by_field: Vec<Option<&Tensor<'a>>> = vec![None; info.inputs.len()];
    // Clients mostly send the tensors in schema order: try the field at the
    // same position first, and build the name index only for the others
    // (hashing 64 names per one-row request was a measurable share of it).
    let mut index: Option<HashMap<&str, usize>> = None;
    for (at, t) in inputs.iter().enumerate() {
        let found = match info.inputs.get(at) {
            Some(f) if f.name == t.name => Some(at),
            _ => index
                .get_or_insert_with(|| {
                    info.inputs
                        .iter()
                        .enumerate()
                        .map(|(i, f)| (f.name.as_str(), i))
                        .collect()
                })
                .get(t.name)
                .copied(),
        };
        match found {
            None => {
                let (datatype, width) = two_d_form(info);
                problems.push(tensor_problem(
                    t.name,
                    format!(
                        "one tensor per feature, named like the feature (the model has no feature \
                         `{}`), or a single {datatype} tensor of shape [N, {width}]",
                        t.name
                    ),
                    format!("a {} tensor of shape {:?}", t.datatype, t.shape),
                ))
            }
            Some(i) if by_field[i].is_some() => problems.push(tensor_problem(
                t.name,
                "one tensor per feature".into(),
                "a second tensor of that name".into(),
            )),
            Some(i) => by_field[i] = Some(t),
        }
    }
    // The number of rows: the first well-shaped tensor's.
    let well_shaped = |t: &Tensor| matches!(t.shape, [n] | [n, 1] if *n >= 0);
    let rows = by_field
        .iter()
        .flatten()
        .find(|t| well_shaped(t))
        .map_or(0, |t| t.shape[0] as usize);
    if rows > max_rows {
        return Err(DecodeError::TooManyRows(rows));
    }
    let mut columns = Columns {
        numeric: Vec::with_capacity(rows * info.inputs.len()),
        ..Columns::default()
    };
    for (field, tensor) in info.inputs.iter().zip(&by_field) {
        let numeric_field = field.kind == FeatureKind::Numeric;
        let Some(t) = tensor else {
            problems.push(tensor_problem(
                &field.name,
                format!(
                    "an input tensor named `{}` ({})",
                    field.name,
                    if numeric_field {
                        "FP64, FP32 or INT64"
                    } else {
                        "BYTES"
                    }
                ),
                "none".into(),
            ));
            continue;
        };
        let before = problems.len();
        if !well_shaped(t) || t.shape[0] as usize != rows {
            problems.push(tensor_problem(
                &field.name,
                format!(
                    "shape [{rows}] or [{rows}, 1] (one value per row, {rows} rows like the other inputs)"
                ),
                format!("shape {:?}", t.shape),
            ));
        }
        if numeric_field && !NUMERIC_TYPES.contains(&t.datatype) {
            problems.push(tensor_problem(
                &field.name,
                "datatype FP64, FP32 or INT64 (a numeric feature)".into(),
                format!("datatype {}", t.datatype),
            ));
        } else if !numeric_field && t.datatype != "BYTES" {
            problems.push(tensor_problem(
                &field.name,
                "datatype BYTES (a categorical feature)".into(),
                format!("datatype {}", t.datatype),
            ));
        }
        if problems.len() > before {
            continue;
        }
        let reader = match Reader::new(t, rows) {
            Ok(reader) => reader,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let column = Column {
            reader: &reader,
            start: 0,
            stride: 1,
            text_numbers: false,
            integer: t.datatype.contains("INT"),
        };
        column.read(field, rows, &mut columns, &mut problems);
    }
    finish(columns, rows, problems)
}

fn decode_two_d<'a>(
    info: &ModelInfo,
    t: &Tensor<'a>,
    max_rows: usize,
) -> Result<Batch, DecodeError> {
    let (form, width) = two_d_form(info);
    let shape_problem = || {
        tensor_problem(
            t.name,
            format!(
                "shape [N, {width}]: one row per row, one column per input of the model, in the \
                 order of its metadata (or one tensor per feature)"
            ),
            format!("shape {:?}", t.shape),
        )
    };
    let [rows, columns_given] = *t.shape else {
        return Err(DecodeError::one(shape_problem()));
    };
    if rows < 0 || usize::try_from(columns_given).ok() != Some(width) {
        return Err(DecodeError::one(shape_problem()));
    }
    let rows = rows as usize;
    if rows > max_rows {
        return Err(DecodeError::TooManyRows(rows));
    }
    let numeric_type = NUMERIC_TYPES.contains(&t.datatype);
    if t.datatype != "BYTES" && !(numeric_type && form == "FP64") {
        let expected = if form == "BYTES" {
            let categorical: Vec<&str> = info
                .inputs
                .iter()
                .filter(|f| f.kind == FeatureKind::Categorical)
                .map(|f| f.name.as_str())
                .collect();
            format!(
                "datatype BYTES (the model has categorical inputs: {})",
                categorical.join(", ")
            )
        } else {
            "datatype FP64, FP32, INT64 or BYTES".into()
        };
        return Err(DecodeError::one(tensor_problem(
            t.name,
            expected,
            format!("datatype {}", t.datatype),
        )));
    }
    let reader = Reader::new(t, rows * width).map_err(DecodeError::one)?;
    let mut problems = Found::default();
    let mut columns = Columns {
        numeric: Vec::with_capacity(rows * width),
        ..Columns::default()
    };
    for (c, field) in info.inputs.iter().enumerate() {
        let column = Column {
            reader: &reader,
            start: c,
            stride: width,
            text_numbers: t.datatype == "BYTES",
            integer: t.datatype.contains("INT"),
        };
        column.read(field, rows, &mut columns, &mut problems);
    }
    finish(columns, rows, problems)
}

fn finish(columns: Columns<'_>, rows: usize, problems: Found) -> Result<Batch, DecodeError> {
    if !problems.is_empty() {
        let Found {
            list: mut problems,
            total,
        } = problems;
        // Whole-tensor problems first, then by row.
        problems.sort_by_key(|p| p.row.map_or(0, |r| r + 1));
        return Err(DecodeError::Problems { problems, total });
    }
    Ok(columns.into_batch(rows))
}

/// One field's values within a tensor: elements `start`, `start + stride`, …
struct Column<'r, 'a> {
    reader: &'r Reader<'a>,
    start: usize,
    stride: usize,
    /// Numbers may come as text (a `BYTES` tensor of the `[N, F]` form).
    text_numbers: bool,
    /// The datatype is an integer one: JSON numbers must be whole.
    integer: bool,
}

const NULL_NOT_ALLOWED: &str = "a missing value (this feature may not be missing)";

impl<'a> Column<'_, 'a> {
    fn read(&self, field: &crate::Field, rows: usize, out: &mut Columns<'a>, problems: &mut Found) {
        let mut problem = |row: usize, expected: &str, got: String| {
            problems.push(Problem {
                row: Some(row),
                field: field.name.clone(),
                expected: expected.into(),
                got,
            })
        };
        for row in 0..rows {
            let value = self.reader.get(self.start + row * self.stride);
            if field.kind == FeatureKind::Numeric {
                let x = match value {
                    Value::Int(i) => i as f64,
                    Value::Num(x) if self.integer && x.fract() != 0.0 => {
                        problem(row, "an integer (the tensor is INT)", format!("{x}"));
                        0.0
                    }
                    Value::Num(x) => x,
                    Value::Str(s) if self.text_numbers => {
                        match std::str::from_utf8(s)
                            .ok()
                            .and_then(|s| s.trim().parse().ok())
                        {
                            Some(x) => x,
                            None => {
                                problem(row, "a number (as decimal text)", describe(&value));
                                0.0
                            }
                        }
                    }
                    Value::Null => f64::NAN,
                    other => {
                        problem(row, "a number", describe(&other));
                        0.0
                    }
                };
                if x.is_nan() {
                    if !field.nullable {
                        problem(row, "a number", NULL_NOT_ALLOWED.into());
                    }
                    out.numeric_missing.push(out.numeric.len() as u32);
                } else if x.is_infinite() {
                    problem(row, "a finite number", format!("{x}"));
                }
                out.numeric.push(x);
            } else {
                let code = match value {
                    Value::Str(s) => match std::str::from_utf8(s) {
                        Ok(s) => Some(match out.codes.get(s) {
                            Some(c) => *c,
                            None => {
                                let c = out.dictionary.len() as u32;
                                out.dictionary.push(s.to_string());
                                out.codes.insert(s, c);
                                c
                            }
                        }),
                        Err(_) => {
                            problem(row, "a UTF-8 string", describe(&value));
                            None
                        }
                    },
                    Value::Null => {
                        if !field.nullable {
                            problem(row, "a string", NULL_NOT_ALLOWED.into());
                        }
                        None
                    }
                    other => {
                        problem(row, "a string", describe(&other));
                        None
                    }
                };
                out.categorical.push(code);
            }
        }
    }
}

/// One element, as read.
#[derive(Clone, Copy, Debug)]
enum Value<'a> {
    Int(i64),
    Num(f64),
    Str(&'a [u8]),
    Null,
    Bool(bool),
    Object,
}

fn describe(v: &Value) -> String {
    match v {
        Value::Int(i) => format!("the number {i}"),
        Value::Num(x) => format!("the number {x}"),
        Value::Str(s) if s.len() > 40 => format!("a string ({} bytes)", s.len()),
        Value::Str(s) => match std::str::from_utf8(s) {
            Ok(s) => format!("the string {s:?}"),
            Err(_) => format!("{} bytes that are not UTF-8", s.len()),
        },
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Object => "an object".into(),
    }
}

/// A fixed-size numeric datatype.
#[derive(Clone, Copy, Debug)]
enum Num {
    F64,
    F32,
    F16,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
}

impl Num {
    fn of(datatype: &str) -> Option<Num> {
        Some(match datatype {
            "FP64" => Num::F64,
            "FP32" => Num::F32,
            "FP16" => Num::F16,
            "INT64" => Num::I64,
            "INT32" => Num::I32,
            "INT16" => Num::I16,
            "INT8" => Num::I8,
            "UINT64" => Num::U64,
            "UINT32" => Num::U32,
            "UINT16" => Num::U16,
            "UINT8" => Num::U8,
            "BOOL" => Num::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Num::F64 | Num::I64 | Num::U64 => 8,
            Num::F32 | Num::I32 | Num::U32 => 4,
            Num::F16 | Num::I16 | Num::U16 => 2,
            Num::I8 | Num::U8 | Num::Bool => 1,
        }
    }

    /// Element `i` of `bytes`, which holds at least `i + 1` of them.
    fn read(self, bytes: &[u8], i: usize) -> Value<'static> {
        let at = i * self.size();
        let b = |n: usize| -> [u8; 8] {
            let mut out = [0; 8];
            out[..n].copy_from_slice(&bytes[at..at + n]);
            out
        };
        let [b0, b1, b2, b3, ..] = b(self.size());
        match self {
            Num::F64 => Value::Num(f64::from_le_bytes(b(8))),
            Num::F32 => Value::Num(f64::from(f32::from_le_bytes([b0, b1, b2, b3]))),
            Num::F16 => Value::Num(f16_to_f64(u16::from_le_bytes([b0, b1]))),
            Num::I64 => Value::Int(i64::from_le_bytes(b(8))),
            Num::I32 => Value::Int(i64::from(i32::from_le_bytes([b0, b1, b2, b3]))),
            Num::I16 => Value::Int(i64::from(i16::from_le_bytes([b0, b1]))),
            Num::I8 => Value::Int(i64::from(b0 as i8)),
            Num::U64 => unsigned(u64::from_le_bytes(b(8))),
            Num::U32 => Value::Int(i64::from(u32::from_le_bytes([b0, b1, b2, b3]))),
            Num::U16 => Value::Int(i64::from(u16::from_le_bytes([b0, b1]))),
            Num::U8 => Value::Int(i64::from(b0)),
            Num::Bool => Value::Bool(b0 != 0),
        }
    }
}

fn unsigned(v: u64) -> Value<'static> {
    i64::try_from(v).map_or(Value::Num(v as f64), Value::Int)
}

/// An IEEE half-precision number, widened exactly.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let fraction = f64::from(h & 0x3ff);
    sign * match exponent {
        0 => fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + fraction / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Random access to a tensor's elements, its length checked.
enum Reader<'a> {
    Json(&'a [Elem]),
    Raw(&'a [u8], Num),
    Strings(Vec<&'a [u8]>),
    F64(&'a [f64]),
    F32(&'a [f32]),
    I64(&'a [i64]),
    I32(&'a [i32]),
    U64(&'a [u64]),
    U32(&'a [u32]),
    Bool(&'a [bool]),
}

impl<'a> Reader<'a> {
    /// A reader of `t`'s values, which must be `count` elements.
    fn new(t: &Tensor<'a>, count: usize) -> Result<Reader<'a>, Problem> {
        let problem = |expected: String, got: String| tensor_problem(t.name, expected, got);
        let wrong_count = |got: usize| {
            problem(
                format!("{count} values (shape {:?})", t.shape),
                format!("{got} values"),
            )
        };
        let reader = match t.values {
            Values::Json(elems) => Reader::Json(elems),
            Values::Raw(bytes) if t.datatype == "BYTES" => Reader::Strings(
                split_bytes(bytes, count).map_err(|(expected, got)| problem(expected, got))?,
            ),
            Values::Raw(bytes) => {
                let Some(num) = Num::of(t.datatype) else {
                    return Err(problem(
                        "a datatype of the Open Inference Protocol (FP64, FP32, INT64, BYTES, …)"
                            .into(),
                        format!("datatype {}", t.datatype),
                    ));
                };
                if bytes.len() != count * num.size() {
                    return Err(problem(
                        format!(
                            "{} bytes of raw data ({count} values of {} bytes)",
                            count * num.size(),
                            num.size()
                        ),
                        format!("{} bytes", bytes.len()),
                    ));
                }
                Reader::Raw(bytes, num)
            }
            Values::Contents(c) => {
                let (reader, field) = match t.datatype {
                    "FP64" => (Reader::F64(&c.fp64_contents), "fp64_contents"),
                    "FP32" => (Reader::F32(&c.fp32_contents), "fp32_contents"),
                    "INT64" => (Reader::I64(&c.int64_contents), "int64_contents"),
                    "INT32" | "INT16" | "INT8" => (Reader::I32(&c.int_contents), "int_contents"),
                    "UINT64" => (Reader::U64(&c.uint64_contents), "uint64_contents"),
                    "UINT32" | "UINT16" | "UINT8" => {
                        (Reader::U32(&c.uint_contents), "uint_contents")
                    }
                    "BOOL" => (Reader::Bool(&c.bool_contents), "bool_contents"),
                    "BYTES" => {
                        // At most one element past the count is looked at.
                        let strings: Vec<&[u8]> = c
                            .bytes_contents
                            .iter()
                            .take(count.saturating_add(1))
                            .map(Vec::as_slice)
                            .collect();
                        if c.bytes_contents.len() != count {
                            return Err(wrong_count(c.bytes_contents.len()));
                        }
                        (Reader::Strings(strings), "bytes_contents")
                    }
                    other => {
                        return Err(problem(
                            "a datatype with typed contents (FP64, FP32, INT64, INT32, UINT64, \
                             UINT32, BOOL, BYTES; FP16 only as raw contents)"
                                .into(),
                            format!("datatype {other}"),
                        ));
                    }
                };
                if reader.len() != count {
                    return Err(problem(
                        format!("{count} values in contents.{field} (shape {:?})", t.shape),
                        format!("{}", reader.len()),
                    ));
                }
                reader
            }
        };
        if reader.len() != count {
            return Err(wrong_count(reader.len()));
        }
        Ok(reader)
    }

    fn len(&self) -> usize {
        match self {
            Reader::Json(e) => e.len(),
            Reader::Raw(b, num) => b.len() / num.size(),
            Reader::Strings(s) => s.len(),
            Reader::F64(v) => v.len(),
            Reader::F32(v) => v.len(),
            Reader::I64(v) => v.len(),
            Reader::I32(v) => v.len(),
            Reader::U64(v) => v.len(),
            Reader::U32(v) => v.len(),
            Reader::Bool(v) => v.len(),
        }
    }

    /// Element `i`, which is within [`Reader::len`].
    fn get(&self, i: usize) -> Value<'a> {
        match *self {
            Reader::Json(e) => match &e[i] {
                Elem::Int(v) => Value::Int(*v),
                Elem::Num(x) => Value::Num(*x),
                Elem::Str(s) => Value::Str(s.as_bytes()),
                Elem::Null => Value::Null,
                Elem::Bool(b) => Value::Bool(*b),
                Elem::Object => Value::Object,
            },
            Reader::Raw(bytes, num) => num.read(bytes, i),
            Reader::Strings(ref s) => Value::Str(s[i]),
            Reader::F64(v) => Value::Num(v[i]),
            Reader::F32(v) => Value::Num(f64::from(v[i])),
            Reader::I64(v) => Value::Int(v[i]),
            Reader::I32(v) => Value::Int(i64::from(v[i])),
            Reader::U64(v) => unsigned(v[i]),
            Reader::U32(v) => Value::Int(i64::from(v[i])),
            Reader::Bool(v) => Value::Bool(v[i]),
        }
    }
}

/// Splits raw `BYTES` data into its `count` elements (each a 4-byte
/// little-endian length, then the bytes); `(expected, got)` when it does not
/// hold exactly that.
fn split_bytes(mut bytes: &[u8], count: usize) -> Result<Vec<&[u8]>, (String, String)> {
    let layout = "BYTES elements, each a 4-byte little-endian length and its bytes";
    let mut out = Vec::with_capacity(count.min(bytes.len() / 4));
    while !bytes.is_empty() {
        if out.len() == count {
            return Err((
                format!("{count} {layout}"),
                format!("{} more bytes after {count} elements", bytes.len()),
            ));
        }
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Err((layout.into(), format!("{} bytes at the end", bytes.len())));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err((
                layout.into(),
                format!(
                    "element {} of {len} bytes with {} bytes left",
                    out.len(),
                    rest.len()
                ),
            ));
        }
        let (element, rest) = rest.split_at(len);
        out.push(element);
        bytes = rest;
    }
    Ok(out)
}

/// The raw little-endian bytes of an output tensor: `FP64` numbers, or
/// `BYTES` strings each behind its 4-byte length.
pub fn raw_output(data: &super::oip::OutputData<'_>) -> Vec<u8> {
    use super::oip::OutputData;
    match data {
        OutputData::Numbers(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        OutputData::Strings(s) => {
            let mut out = Vec::with_capacity(s.iter().map(|s| s.len() + 4).sum());
            for s in s {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            out
        }
        OutputData::Binary => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_widens_exactly() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x3555), 0.333251953125);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x7c00), f64::INFINITY);
        assert!(f16_to_f64(0x7e00).is_nan());
    }

    #[test]
    fn raw_bytes_elements_are_split_and_bounded() {
        let mut raw = Vec::new();
        for s in ["a", "", "xyz"] {
            raw.extend_from_slice(&(s.len() as u32).to_le_bytes());
            raw.extend_from_slice(s.as_bytes());
        }
        let parts = split_bytes(&raw, 3).unwrap();
        assert_eq!(parts, [&b"a"[..], b"", b"xyz"]);
        assert!(
            split_bytes(&raw, 2)
                .unwrap_err()
                .1
                .contains("more bytes after 2")
        );
        assert!(
            split_bytes(&raw[..raw.len() - 1], 3)
                .unwrap_err()
                .1
                .contains("element 2")
        );
        assert!(
            split_bytes(&[1, 0], 1)
                .unwrap_err()
                .1
                .contains("2 bytes at the end")
        );
        // A length past the end is refused without allocating for it.
        assert!(split_bytes(&u32::MAX.to_le_bytes(), 1).is_err());
    }
}
