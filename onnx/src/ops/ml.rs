//! The ai.onnx.ml operators other than trees and SVMs.

use std::collections::HashMap;

use super::core::tiled;
use super::{Labels, PostTransform, tensor};
use crate::graph::{Attrs, Kernel};
use crate::tensor::{Data, ElemType, Map, Tensor, Value};

type R<T> = Result<T, String>;

pub(super) fn build(op: &str, a: &Attrs<'_>, opset: i64) -> R<Box<dyn Kernel>> {
    Ok(match op {
        "ArrayFeatureExtractor" => Box::new(ArrayFeatureExtractor),
        "Binarizer" => Box::new(Binarizer(a.float("threshold").unwrap_or(0.0))),
        "CastMap" => Box::new(CastMap {
            to: match a.string("cast_to").as_deref().unwrap_or("TO_FLOAT") {
                "TO_FLOAT" => ElemType::F32,
                "TO_STRING" => ElemType::Str,
                "TO_INT64" => ElemType::I64,
                other => {
                    return Err(format!(
                        "cast_to `{other}` is not TO_FLOAT, TO_STRING or TO_INT64"
                    ));
                }
            },
            sparse: match a.string("map_form").as_deref().unwrap_or("DENSE") {
                "DENSE" => false,
                "SPARSE" => true,
                other => return Err(format!("map_form `{other}` is not DENSE or SPARSE")),
            },
            max_map: usize::try_from(a.int("max_map").unwrap_or(1))
                .map_err(|_| "max_map must not be negative")?,
        }),
        "CategoryMapper" => {
            let ints = a.ints("cats_int64s");
            let strings = a.strings("cats_strings");
            if ints.len() != strings.len() {
                return Err(format!(
                    "cats_int64s has {} entries and cats_strings {}; they pair up one to one",
                    ints.len(),
                    strings.len()
                ));
            }
            Box::new(CategoryMapper {
                to_int: strings.iter().cloned().zip(ints.iter().copied()).collect(),
                to_str: ints.into_iter().zip(strings).collect(),
                default_int: a.int("default_int64").unwrap_or(-1),
                default_str: a
                    .string("default_string")
                    .unwrap_or_else(|| "_Unused".into()),
            })
        }
        "DictVectorizer" => {
            let vocab = Vocab::parse(a, "int64_vocabulary", "string_vocabulary")?;
            Box::new(DictVectorizer(vocab))
        }
        "FeatureVectorizer" => Box::new(FeatureVectorizer(
            a.ints("inputdimensions")
                .into_iter()
                .map(|d| usize::try_from(d).map_err(|_| format!("negative input dimension {d}")))
                .collect::<R<_>>()?,
        )),
        "Imputer" => {
            let floats = a.floats("imputed_value_floats");
            let ints = a.ints("imputed_value_int64s");
            if floats.is_empty() == ints.is_empty() {
                return Err(
                    "needs exactly one of imputed_value_floats and imputed_value_int64s".into(),
                );
            }
            Box::new(Imputer {
                floats,
                ints,
                replaced_float: a.float("replaced_value_float").unwrap_or(0.0),
                replaced_int: a.int("replaced_value_int64").unwrap_or(0),
            })
        }
        "LabelEncoder" => Box::new(label_encoder(a, opset)?),
        "LinearClassifier" => {
            let coefficients = a.floats("coefficients");
            let intercepts = a.floats("intercepts");
            let labels = Labels::parse(a, "classlabels_ints", "classlabels_strings")?;
            let _ = a.int("multi_class"); // onnxruntime reads and ignores it; so do we
            let classes = intercepts.len();
            if classes == 0
                || coefficients.is_empty()
                || !coefficients.len().is_multiple_of(classes)
            {
                return Err(format!(
                    "{} coefficients do not split into {classes} classes (one intercept each)",
                    coefficients.len()
                ));
            }
            if classes != 1 && classes != labels.len() {
                return Err(format!(
                    "{classes} rows of coefficients for {} class labels",
                    labels.len()
                ));
            }
            Box::new(LinearClassifier {
                weights: Weights::new(coefficients, intercepts),
                labels,
                post: PostTransform::parse(a)?,
            })
        }
        "LinearRegressor" => {
            let coefficients = a.floats("coefficients");
            let targets =
                usize::try_from(a.int("targets").unwrap_or(1)).map_err(|_| "bad targets")?;
            let mut intercepts = a.floats("intercepts");
            if intercepts.is_empty() {
                intercepts = vec![0.0; targets];
            }
            if targets == 0
                || intercepts.len() != targets
                || !coefficients.len().is_multiple_of(targets)
            {
                return Err(format!(
                    "{} coefficients and {} intercepts do not fit {targets} targets",
                    coefficients.len(),
                    intercepts.len()
                ));
            }
            Box::new(LinearRegressor {
                weights: Weights::new(coefficients, intercepts),
                post: PostTransform::parse(a)?,
            })
        }
        "Normalizer" => Box::new(Normalizer(
            match a.string("norm").as_deref().unwrap_or("MAX") {
                "MAX" => Norm::Max,
                "L1" => Norm::L1,
                "L2" => Norm::L2,
                other => return Err(format!("norm `{other}` is not MAX, L1 or L2")),
            },
        )),
        "OneHotEncoder" => {
            let cats = Vocab::parse(a, "cats_int64s", "cats_strings")?;
            Box::new(OneHotEncoder {
                cats,
                zeros: a.int("zeros").unwrap_or(1) != 0,
            })
        }
        "Scaler" => Box::new(Scaler {
            offset: a.floats("offset"),
            scale: a.floats("scale"),
        }),
        "ZipMap" => Box::new(ZipMap(Labels::parse(
            a,
            "classlabels_int64s",
            "classlabels_strings",
        )?)),
        other => return Err(format!("operator ai.onnx.ml:{other} is not supported")),
    })
}

/// Float input as `f32`, whatever numeric type it arrives in.
fn floats(t: &Tensor) -> R<std::borrow::Cow<'_, [f32]>> {
    match &t.data {
        Data::F32(v) => Ok(std::borrow::Cow::Borrowed(v)),
        Data::F64(_) | Data::I64(_) => Ok(std::borrow::Cow::Owned(t.data.to_f32())),
        _ => Err(format!("expected a numeric tensor, got {}", t.elem_type())),
    }
}

#[derive(Clone, Debug)]
struct ArrayFeatureExtractor;

impl Kernel for ArrayFeatureExtractor {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let x = tensor(inputs, 0, "X")?;
        let y = tensor(inputs, 1, "Y")?;
        let idx = match &y.data {
            Data::I64(v) => v,
            _ => return Err(format!("indices must be int64, got {}", y.elem_type())),
        };
        let cols = *x.shape.last().ok_or("X must have rank 1 or more")?;
        let picks: Vec<usize> = idx
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .filter(|&i| i < cols)
                    .ok_or_else(|| format!("index {i} is out of range for {cols} columns"))
            })
            .collect::<R<_>>()?;
        let rows = x.len().checked_div(cols).unwrap_or(0);
        let mut elems = Vec::with_capacity(rows * picks.len());
        for r in 0..rows {
            elems.extend(picks.iter().map(|&p| r * cols + p));
        }
        // A 1-D X gives one row, as in onnxruntime.
        let shape = if x.shape.len() == 1 {
            vec![1, picks.len()]
        } else {
            let mut s = x.shape[..x.shape.len() - 1].to_vec();
            s.push(picks.len());
            s
        };
        Ok(vec![
            Tensor {
                shape,
                data: x.data.gather(&elems),
            }
            .into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct Binarizer(f32);

impl Kernel for Binarizer {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let x = tensor(inputs, 0, "X")?;
        let t = self.0;
        let data = match &x.data {
            Data::F32(v) => Data::F32(v.iter().map(|&v| if v > t { 1.0 } else { 0.0 }).collect()),
            Data::F64(v) => Data::F64(
                v.iter()
                    .map(|&v| if v > f64::from(t) { 1.0 } else { 0.0 })
                    .collect(),
            ),
            Data::I64(v) => Data::I64(v.iter().map(|&v| i64::from((v as f32) > t)).collect()),
            _ => return Err(format!("Binarizer of a {} tensor", x.elem_type())),
        };
        Ok(vec![
            Tensor {
                shape: x.shape.clone(),
                data,
            }
            .into(),
        ])
    }
}

/// A vocabulary: category → position.
#[derive(Clone, Debug)]
enum Vocab {
    Ints(HashMap<i64, usize>, usize),
    Strings(HashMap<String, usize>, usize),
}

impl Vocab {
    /// A vocabulary from whichever of the two list attributes is given.
    fn parse(a: &Attrs<'_>, ints: &str, strings: &str) -> R<Vocab> {
        let (i, s) = (a.ints(ints), a.strings(strings));
        match (i.is_empty(), s.is_empty()) {
            (false, true) => Ok(Vocab::Ints(
                i.iter().enumerate().map(|(n, &k)| (k, n)).collect(),
                i.len(),
            )),
            (true, false) => Ok(Vocab::Strings(
                s.iter().enumerate().map(|(n, k)| (k.clone(), n)).collect(),
                s.len(),
            )),
            _ => Err(format!("needs exactly one of {ints} and {strings}")),
        }
    }

    fn len(&self) -> usize {
        match self {
            Vocab::Ints(_, n) | Vocab::Strings(_, n) => *n,
        }
    }
}

#[derive(Clone, Debug)]
struct CastMap {
    to: ElemType,
    sparse: bool,
    max_map: usize,
}

impl Kernel for CastMap {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let Some(Value::Map(m)) = inputs.first().copied().flatten() else {
            return Err("input must be a map(int64, string|float)".into());
        };
        let Data::I64(keys) = &m.keys else {
            return Err("map keys must be int64".into());
        };
        // Keys in ascending order, as the specification's dense form requires.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&i| keys[i]);
        let values = Tensor {
            shape: vec![m.values.len()],
            data: m.values.clone(),
        };
        let cast = match (self.to, &values.data) {
            // onnxruntime writes floats as C's `%f` here.
            (ElemType::Str, Data::F32(v)) => Tensor {
                shape: values.shape.clone(),
                data: Data::Str(v.iter().map(|x| format!("{x:.6}")).collect()),
            },
            _ => super::core::cast(&values, self.to),
        };
        let (n, picks): (usize, Vec<Option<usize>>) = if self.sparse {
            if self.max_map > super::MAX_ELEMENTS {
                return Err(format!(
                    "max_map {} is larger than Glassbox allows",
                    self.max_map
                ));
            }
            let mut slots = vec![None; self.max_map];
            for (i, &k) in keys.iter().enumerate() {
                if let Some(s) = usize::try_from(k).ok().and_then(|k| slots.get_mut(k)) {
                    *s = Some(i);
                }
            }
            (self.max_map, slots)
        } else {
            (order.len(), order.into_iter().map(Some).collect())
        };
        let data = match &cast.data {
            Data::F32(v) => Data::F32(picks.iter().map(|p| p.map_or(0.0, |i| v[i])).collect()),
            Data::I64(v) => Data::I64(picks.iter().map(|p| p.map_or(0, |i| v[i])).collect()),
            Data::Str(v) => Data::Str(
                picks
                    .iter()
                    .map(|p| p.map_or_else(String::new, |i| v[i].clone()))
                    .collect(),
            ),
            _ => unreachable!("CastMap casts to float, int64 or string"),
        };
        Ok(vec![
            Tensor {
                shape: vec![1, n],
                data,
            }
            .into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct CategoryMapper {
    to_int: HashMap<String, i64>,
    to_str: HashMap<i64, String>,
    default_int: i64,
    default_str: String,
}

impl Kernel for CategoryMapper {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let x = tensor(inputs, 0, "X")?;
        let data = match &x.data {
            Data::Str(v) => Data::I64(
                v.iter()
                    .map(|s| *self.to_int.get(s).unwrap_or(&self.default_int))
                    .collect(),
            ),
            Data::I64(v) => Data::Str(
                v.iter()
                    .map(|i| self.to_str.get(i).unwrap_or(&self.default_str).clone())
                    .collect(),
            ),
            _ => {
                return Err(format!(
                    "input must be string or int64, got {}",
                    x.elem_type()
                ));
            }
        };
        Ok(vec![
            Tensor {
                shape: x.shape.clone(),
                data,
            }
            .into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct DictVectorizer(Vocab);

impl DictVectorizer {
    fn row(&self, m: &Map, out: &mut Vec<f32>) -> R<()> {
        let n = self.0.len();
        let start = out.len();
        out.resize(start + n, 0.0);
        let values = m.values.to_f32();
        match (&self.0, &m.keys) {
            (Vocab::Ints(v, _), Data::I64(keys)) => {
                for (k, x) in keys.iter().zip(values) {
                    if let Some(&i) = v.get(k) {
                        out[start + i] = x;
                    }
                }
            }
            (Vocab::Strings(v, _), Data::Str(keys)) => {
                for (k, x) in keys.iter().zip(values) {
                    if let Some(&i) = v.get(k) {
                        out[start + i] = x;
                    }
                }
            }
            _ => return Err("the map's key type does not match the vocabulary".into()),
        }
        Ok(())
    }
}

impl Kernel for DictVectorizer {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let maps: Vec<&Map> = match inputs.first().copied().flatten() {
            Some(Value::Map(m)) => vec![m],
            Some(Value::Maps(ms)) => ms.iter().collect(),
            _ => return Err("input must be a map or a sequence of maps".into()),
        };
        let mut out = Vec::with_capacity(maps.len() * self.0.len());
        for m in &maps {
            self.row(m, &mut out)?;
        }
        Ok(vec![
            Tensor::f32(vec![maps.len(), self.0.len()], out).into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct FeatureVectorizer(Vec<usize>);

impl Kernel for FeatureVectorizer {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        if inputs.len() != self.0.len() {
            return Err(format!(
                "{} inputs but {} inputdimensions",
                inputs.len(),
                self.0.len()
            ));
        }
        let parts: Vec<(Vec<f32>, usize, usize)> = (0..inputs.len())
            .map(|i| {
                let t = tensor(inputs, i, "X")?;
                let (rows, cols) = t.as_matrix();
                Ok((floats(t)?.into_owned(), rows, cols))
            })
            .collect::<R<_>>()?;
        let rows = parts.first().map_or(0, |p| p.1);
        if parts.iter().any(|p| p.1 != rows) {
            return Err("inputs have different numbers of rows".into());
        }
        let width: usize = self.0.iter().sum();
        let mut out = vec![0f32; rows * width];
        for r in 0..rows {
            let mut at = r * width;
            for ((v, _, cols), &d) in parts.iter().zip(&self.0) {
                // Each input is cut or zero-padded to its declared width.
                let n = d.min(*cols);
                out[at..at + n].copy_from_slice(&v[r * cols..r * cols + n]);
                at += d;
            }
        }
        Ok(vec![Tensor::f32(vec![rows, width], out).into()])
    }
}

#[derive(Clone, Debug)]
struct Imputer {
    floats: Vec<f32>,
    ints: Vec<i64>,
    replaced_float: f32,
    replaced_int: i64,
}

impl Kernel for Imputer {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let x = tensor(inputs, 0, "X")?;
        let (_, cols) = x.as_matrix();
        let pick = |n: usize, i: usize| if n == 1 { 0 } else { i % cols.max(1) };
        let data = match &x.data {
            Data::F32(_) | Data::F64(_) if !self.floats.is_empty() => {
                let n = self.floats.len();
                if n != 1 && n != cols {
                    return Err(format!("{n} imputed values for {cols} columns"));
                }
                let nan = self.replaced_float.is_nan();
                let r = self.replaced_float;
                // One fill value per column, and whole rows at a time: no
                // division per value to find its column, and a select the
                // compiler vectorises.
                let fills: Vec<f32> = (0..cols.max(1)).map(|c| self.floats[pick(n, c)]).collect();
                match &x.data {
                    Data::F32(v) => {
                        let mut out = Vec::with_capacity(v.len());
                        // Whole rows of fill values, about 256 at a time
                        // (as in Scaler).
                        let fills = tiled(&fills, fills.len(), v.len());
                        for rows in v.chunks(fills.len()) {
                            out.extend(
                                rows.iter().zip(&fills[..]).map(|(&x, &f)| {
                                    if x == r || (nan && x.is_nan()) { f } else { x }
                                }),
                            );
                        }
                        Data::F32(out)
                    }
                    Data::F64(v) => {
                        let mut out = Vec::with_capacity(v.len());
                        for row in v.chunks(cols.max(1)) {
                            out.extend(row.iter().zip(&fills).map(|(&x, &f)| {
                                if x == f64::from(r) || (nan && x.is_nan()) {
                                    f64::from(f)
                                } else {
                                    x
                                }
                            }));
                        }
                        Data::F64(out)
                    }
                    _ => unreachable!(),
                }
            }
            Data::I64(v) if !self.ints.is_empty() => {
                let n = self.ints.len();
                if n != 1 && n != cols {
                    return Err(format!("{n} imputed values for {cols} columns"));
                }
                Data::I64(
                    v.iter()
                        .enumerate()
                        .map(|(i, &x)| {
                            if x == self.replaced_int {
                                self.ints[pick(n, i)]
                            } else {
                                x
                            }
                        })
                        .collect(),
                )
            }
            d => {
                return Err(format!(
                    "a {} input does not match the imputed values' type",
                    d.elem_type()
                ));
            }
        };
        Ok(vec![
            Tensor {
                shape: x.shape.clone(),
                data,
            }
            .into(),
        ])
    }
}

/// A hashable key: integers, strings, or float bit patterns (all NaNs equal).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    I(i64),
    S(String),
    F(u32),
}

fn float_key(f: f32) -> Key {
    if f.is_nan() {
        Key::F(f32::NAN.to_bits())
    } else if f == 0.0 {
        Key::F(0)
    } else {
        Key::F(f.to_bits())
    }
}

fn keys_of(d: &Data) -> Vec<Key> {
    match d {
        Data::I64(v) => v.iter().map(|&i| Key::I(i)).collect(),
        Data::Str(v) => v.iter().map(|s| Key::S(s.clone())).collect(),
        Data::F32(v) => v.iter().map(|&f| float_key(f)).collect(),
        Data::F64(v) => v.iter().map(|&f| float_key(f as f32)).collect(),
        Data::Bool(v) => v.iter().map(|&b| Key::I(i64::from(b))).collect(),
    }
}

#[derive(Clone, Debug)]
enum LabelEncoder {
    /// Opset 1: strings ↔ their index in `classes_strings`, either way.
    V1 {
        index: HashMap<String, i64>,
        classes: Vec<String>,
        default_int: i64,
        default_str: String,
    },
    /// Opset 2 and later: keys → values, anything unknown → `default`.
    V2 {
        key_type: ElemType,
        map: HashMap<Key, usize>,
        /// The values followed by the default, so a lookup is one gather.
        values_and_default: Data,
    },
}

fn label_encoder(a: &Attrs<'_>, opset: i64) -> R<LabelEncoder> {
    if opset < 2 {
        let classes = a.strings("classes_strings");
        return Ok(LabelEncoder::V1 {
            index: classes
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as i64))
                .collect(),
            classes,
            default_int: a.int("default_int64").unwrap_or(-1),
            default_str: a
                .string("default_string")
                .unwrap_or_else(|| "_Unused".into()),
        });
    }
    let keys = if let Some(t) = a.tensor("keys_tensor")? {
        t.data
    } else if a.has("keys_strings") {
        Data::Str(a.strings("keys_strings"))
    } else if a.has("keys_int64s") {
        Data::I64(a.ints("keys_int64s"))
    } else if a.has("keys_floats") {
        Data::F32(a.floats("keys_floats"))
    } else {
        return Err("needs keys (keys_strings, keys_int64s, keys_floats or keys_tensor)".into());
    };
    let values = if let Some(t) = a.tensor("values_tensor")? {
        t.data
    } else if a.has("values_strings") {
        Data::Str(a.strings("values_strings"))
    } else if a.has("values_int64s") {
        Data::I64(a.ints("values_int64s"))
    } else if a.has("values_floats") {
        Data::F32(a.floats("values_floats"))
    } else {
        return Err(
            "needs values (values_strings, values_int64s, values_floats or values_tensor)".into(),
        );
    };
    if keys.len() != values.len() {
        return Err(format!("{} keys but {} values", keys.len(), values.len()));
    }
    let default = match a.tensor("default_tensor")? {
        Some(t) if t.elem_type() == values.elem_type() && t.len() == 1 => t.data,
        Some(t) => {
            return Err(format!(
                "default_tensor must be one {} element, got {} {:?}",
                values.elem_type(),
                t.elem_type(),
                t.shape
            ));
        }
        None => match values.elem_type() {
            ElemType::Str => Data::Str(vec![
                a.string("default_string")
                    .unwrap_or_else(|| "_Unused".into()),
            ]),
            ElemType::I64 => Data::I64(vec![a.int("default_int64").unwrap_or(-1)]),
            ElemType::F64 => Data::F64(vec![f64::from(a.float("default_float").unwrap_or(-0.0))]),
            _ => Data::F32(vec![a.float("default_float").unwrap_or(-0.0)]),
        },
    };
    // Defaults of the other value types may be present (converters write them all).
    a.ignore(&["default_string", "default_int64", "default_float"]);
    let mut map = HashMap::new();
    for (i, k) in keys_of(&keys).into_iter().enumerate() {
        map.entry(k).or_insert(i);
    }
    let mut values_and_default = values.empty_like(values.len() + 1);
    values_and_default.extend_from(&values, 0..values.len());
    values_and_default.extend_from(&default, 0..1);
    Ok(LabelEncoder::V2 {
        key_type: keys.elem_type(),
        map,
        values_and_default,
    })
}

impl Kernel for LabelEncoder {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let x = tensor(inputs, 0, "X")?;
        let data = match self {
            LabelEncoder::V1 {
                index,
                classes,
                default_int,
                default_str,
            } => match &x.data {
                Data::Str(v) => Data::I64(
                    v.iter()
                        .map(|s| *index.get(s).unwrap_or(default_int))
                        .collect(),
                ),
                Data::I64(v) => Data::Str(
                    v.iter()
                        .map(|&i| {
                            usize::try_from(i)
                                .ok()
                                .and_then(|i| classes.get(i))
                                .unwrap_or(default_str)
                                .clone()
                        })
                        .collect(),
                ),
                d => {
                    return Err(format!(
                        "input must be string or int64, got {}",
                        d.elem_type()
                    ));
                }
            },
            LabelEncoder::V2 {
                key_type,
                map,
                values_and_default,
            } => {
                let compatible = *key_type == x.elem_type()
                    || matches!(
                        (key_type, x.elem_type()),
                        (ElemType::F32, ElemType::F64) | (ElemType::F64, ElemType::F32)
                    );
                if !compatible {
                    return Err(format!(
                        "input is {} but the keys are {key_type}",
                        x.elem_type()
                    ));
                }
                let unknown = values_and_default.len() - 1;
                let picks: Vec<usize> = keys_of(&x.data)
                    .iter()
                    .map(|k| map.get(k).copied().unwrap_or(unknown))
                    .collect();
                values_and_default.gather(&picks)
            }
        };
        Ok(vec![
            Tensor {
                shape: x.shape.clone(),
                data,
            }
            .into(),
        ])
    }
}

/// The weights of a linear model, `[targets × features]` coefficients and
/// one intercept per target, shared by LinearClassifier and LinearRegressor.
#[derive(Clone, Debug)]
struct Weights {
    coefficients: Vec<f32>,
    intercepts: Vec<f32>,
    features: usize,
    /// For eight or more targets, the coefficients as the GEMM's right
    /// operand: transposed, with the targets padded to a multiple of four
    /// (zeros) so that the GEMM's vector tiles cover them all; empty
    /// otherwise. Built once, with the kernel: a one-row call spent most of
    /// its time transposing them again.
    gemm_b: Vec<f32>,
    /// The host's constant matrix holding the coefficients transposed
    /// (`features × targets`), when the plan hands the product to the host.
    host: Option<u32>,
    /// Those weights, natively only (see [`super::host_multiply`]).
    host_weights: Vec<f32>,
}

impl Weights {
    /// The product the host could compute ([`Kernel::own_product`]), unless
    /// it already does.
    fn own_product(&self) -> Option<(usize, usize, Vec<f32>)> {
        self.host.is_none().then(|| self.transposed())
    }

    /// These weights with their product done by the host's constant matrix
    /// `index`: the plan keeps the coefficients only natively (see
    /// [`super::host_multiply`]).
    fn on_host(&self, index: u32) -> Weights {
        Weights {
            coefficients: Vec::new(),
            intercepts: self.intercepts.clone(),
            features: self.features,
            gemm_b: Vec::new(),
            host: Some(index),
            host_weights: if super::KEEP_HOST_WEIGHTS {
                self.transposed().2
            } else {
                Vec::new()
            },
        }
    }

    /// The coefficients as the right operand of `X · W`: `features ×
    /// targets`, row-major.
    fn transposed(&self) -> (usize, usize, Vec<f32>) {
        let (k, n) = (self.features, self.intercepts.len());
        let w = (0..k * n)
            .map(|x| self.coefficients[(x % n) * k + x / n])
            .collect();
        (k, n, w)
    }

    /// The caller has checked that the coefficients split into one row per
    /// intercept.
    fn new(coefficients: Vec<f32>, intercepts: Vec<f32>) -> Weights {
        let targets = intercepts.len();
        let features = coefficients.len() / targets.max(1);
        let mut gemm_b = Vec::new();
        if targets >= 8 && features > 0 {
            let n = targets.div_ceil(4) * 4;
            gemm_b = vec![0f32; features * n];
            for (t, w) in coefficients.chunks(features).enumerate() {
                for (f, &v) in w.iter().enumerate() {
                    gemm_b[f * n + t] = v;
                }
            }
        }
        Weights {
            coefficients,
            intercepts,
            features,
            gemm_b,
            host: None,
            host_weights: Vec::new(),
        }
    }

    /// Scores `x [rows × features]`; returns the row count and the
    /// `[rows × targets]` scores.
    fn scores(&self, x: &Tensor) -> R<(usize, Vec<f32>)> {
        let (features, coef, gemm_b, intercepts) = (
            self.features,
            &self.coefficients[..],
            &self.gemm_b[..],
            &self.intercepts[..],
        );
        let (rows, cols) = x.as_matrix();
        if cols != features {
            return Err(format!("X has {cols} features, the model {features}"));
        }
        let x = floats(x)?;
        let targets = intercepts.len();
        if let Some(index) = self.host {
            // The host's product, then the intercepts.
            let mut out =
                super::host_multiply(index, features, targets, &self.host_weights, rows, &x)?;
            for row in out.chunks_mut(targets) {
                for (o, b) in row.iter_mut().zip(intercepts) {
                    *o += b;
                }
            }
            return Ok((rows, out));
        }
        if !gemm_b.is_empty() {
            // Many targets (a multi-class model): one GEMM, whose register
            // blocking reuses each loaded row of X for eight targets, where a dot
            // product per target reloaded the row and reduced across lanes for
            // every target.
            let n = targets.div_ceil(4) * 4;
            let mut wide = vec![0f32; rows * n];
            for row in wide.chunks_mut(n) {
                row[..targets].copy_from_slice(intercepts);
            }
            super::core::gemm_f32(&x, gemm_b, &mut wide, rows, features, n);
            let out = if n == targets {
                wide
            } else {
                wide.chunks(n)
                    .flat_map(|r| &r[..targets])
                    .copied()
                    .collect()
            };
            return Ok((rows, out));
        }
        let mut out = vec![0f32; rows * targets];
        if features < 32 {
            // Few features (a regression on ten): a lane-parallel dot product
            // would be all set-up and reduction. Four rows at a time instead,
            // each summing its features in order in its own register: four
            // independent chains of additions rather than one.
            let mut r = 0;
            while r + 4 <= rows {
                let xs = &x[r * features..(r + 4) * features];
                let (x0, rest) = xs.split_at(features);
                let (x1, rest) = rest.split_at(features);
                let (x2, x3) = rest.split_at(features);
                for t in 0..targets {
                    let w = &coef[t * features..(t + 1) * features];
                    let mut acc = [0f32; 4];
                    // Zipped, not indexed: no bounds check per value (which
                    // took a third of this loop's time in wasm).
                    for ((((&wf, &a), &b), &c), &d) in w.iter().zip(x0).zip(x1).zip(x2).zip(x3) {
                        acc[0] += a * wf;
                        acc[1] += b * wf;
                        acc[2] += c * wf;
                        acc[3] += d * wf;
                    }
                    for (i, a) in acc.iter().enumerate() {
                        out[(r + i) * targets + t] = a + intercepts[t];
                    }
                }
                r += 4;
            }
            for r in r..rows {
                let row = &x[r * features..(r + 1) * features];
                for t in 0..targets {
                    let w = &coef[t * features..(t + 1) * features];
                    let dot = row.iter().zip(w).fold(0.0, |a, (&x, &w)| a + x * w);
                    out[r * targets + t] = dot + intercepts[t];
                }
            }
            return Ok((rows, out));
        }
        for r in 0..rows {
            let row = &x[r * features..(r + 1) * features];
            for t in 0..targets {
                let w = &coef[t * features..(t + 1) * features];
                out[r * targets + t] = glassbox_guest::ops::dot32(row, w) + intercepts[t];
            }
        }
        Ok((rows, out))
    }
}

#[derive(Clone, Debug)]
struct LinearClassifier {
    weights: Weights,
    labels: Labels,
    post: PostTransform,
}

impl Kernel for LinearClassifier {
    fn own_product(&self) -> Option<(usize, usize, Vec<f32>)> {
        self.weights.own_product()
    }

    fn with_host_product(&self, index: u32) -> Option<Box<dyn Kernel>> {
        Some(Box::new(Self {
            weights: self.weights.on_host(index),
            ..self.clone()
        }))
    }

    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let (rows, scores) = self.weights.scores(tensor(inputs, 0, "X")?)?;
        let classes = self.weights.intercepts.len();
        if classes == 1 {
            // One row of coefficients: the sign of the score picks the
            // second or first label. With two labels onnxruntime returns
            // [1 − p, p], p the score after LOGISTIC (if asked for) or the
            // raw score otherwise; PROBIT and a single label keep one column.
            let picks: Vec<usize> = scores.iter().map(|&s| usize::from(s > 0.0)).collect();
            let labels = match &self.labels {
                l if l.len() == 2 => l.tensor(&picks),
                Labels::Ints(_) => Labels::Ints(vec![0, 1]).tensor(&picks),
                Labels::Strings(_) => Labels::Strings(vec!["0".into(), "1".into()]).tensor(&picks),
            };
            let probs = if self.labels.len() == 2 && self.post != PostTransform::Probit {
                let mut p = Vec::with_capacity(rows * 2);
                for s in scores {
                    let s = if self.post == PostTransform::Logistic {
                        super::logistic(s)
                    } else {
                        s
                    };
                    p.push(1.0 - s);
                    p.push(s);
                }
                Tensor::f32(vec![rows, 2], p)
            } else {
                let p = scores
                    .into_iter()
                    .map(|s| {
                        if self.post == PostTransform::Probit {
                            super::probit(s)
                        } else {
                            s
                        }
                    })
                    .collect();
                Tensor::f32(vec![rows, 1], p)
            };
            return Ok(vec![labels.into(), probs.into()]);
        }
        let mut picks = Vec::with_capacity(rows);
        let mut scores = scores;
        for row in scores.chunks_mut(classes) {
            // The label is the first maximal raw score.
            let mut best = 0;
            for j in 1..classes {
                if row[j] > row[best] {
                    best = j;
                }
            }
            picks.push(best);
        }
        self.post.apply_rows(&mut scores, classes);
        Ok(vec![
            self.labels.tensor(&picks).into(),
            Tensor::f32(vec![rows, classes], scores).into(),
        ])
    }
}

#[derive(Clone, Debug)]
struct LinearRegressor {
    weights: Weights,
    post: PostTransform,
}

impl Kernel for LinearRegressor {
    fn own_product(&self) -> Option<(usize, usize, Vec<f32>)> {
        self.weights.own_product()
    }

    fn with_host_product(&self, index: u32) -> Option<Box<dyn Kernel>> {
        Some(Box::new(Self {
            weights: self.weights.on_host(index),
            ..self.clone()
        }))
    }

    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let (rows, mut out) = self.weights.scores(tensor(inputs, 0, "X")?)?;
        let targets = self.weights.intercepts.len();
        if targets > 1 {
            self.post.apply_rows(&mut out, targets);
        } else if self.post == PostTransform::Probit {
            out.iter_mut().for_each(|v| *v = super::probit(*v));
        }
        Ok(vec![Tensor::f32(vec![rows, targets], out).into()])
    }
}

#[derive(Clone, Debug)]
enum Norm {
    Max,
    L1,
    L2,
}

#[derive(Clone, Debug)]
struct Normalizer(Norm);

impl Kernel for Normalizer {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let x = tensor(inputs, 0, "X")?;
        let (rows, cols) = x.as_matrix();
        let mut v = floats(x)?.into_owned();
        for r in 0..rows {
            let row = &mut v[r * cols..(r + 1) * cols];
            let norm = match self.0 {
                Norm::Max => row.iter().copied().fold(f32::MIN, f32::max),
                Norm::L1 => row.iter().map(|x| x.abs()).sum(),
                Norm::L2 => row.iter().map(|x| x * x).sum::<f32>().sqrt(),
            };
            if norm != 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        let shape = if x.shape.len() == 1 {
            vec![1, cols]
        } else {
            x.shape.clone()
        };
        Ok(vec![Tensor::f32(shape, v).into()])
    }
}

#[derive(Clone, Debug)]
struct OneHotEncoder {
    cats: Vocab,
    zeros: bool,
}

impl Kernel for OneHotEncoder {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let x = tensor(inputs, 0, "X")?;
        let n = self.cats.len();
        let positions: Vec<Option<usize>> = match (&self.cats, &x.data) {
            (Vocab::Strings(m, _), Data::Str(v)) => v.iter().map(|s| m.get(s).copied()).collect(),
            (Vocab::Ints(m, _), Data::I64(v)) => v.iter().map(|i| m.get(i).copied()).collect(),
            (Vocab::Ints(m, _), Data::F32(_) | Data::F64(_)) => {
                x.data.to_i64().iter().map(|i| m.get(i).copied()).collect()
            }
            (_, d) => {
                return Err(format!(
                    "a {} input does not match the categories' type",
                    d.elem_type()
                ));
            }
        };
        if !self.zeros && positions.iter().any(Option::is_none) {
            return Err("an input is not among the categories and `zeros` is 0".into());
        }
        let mut out = vec![0f32; positions.len() * n];
        for (r, p) in positions.iter().enumerate() {
            if let Some(p) = p {
                out[r * n + p] = 1.0;
            }
        }
        let mut shape = x.shape.clone();
        shape.push(n);
        Ok(vec![Tensor::f32(shape, out).into()])
    }
}

#[derive(Clone, Debug)]
struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Kernel for Scaler {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let x = tensor(inputs, 0, "X")?;
        let (_, cols) = x.as_matrix();
        for (name, v) in [("offset", &self.offset), ("scale", &self.scale)] {
            if v.len() > 1 && v.len() != cols {
                return Err(format!("{} {name} values for {cols} columns", v.len()));
            }
        }
        // Per-column parameters, broadcast once rather than per element.
        let expand = |v: &[f32], d: f32| match v.len() {
            0 => vec![d; cols],
            1 => vec![v[0]; cols],
            _ => v.to_vec(),
        };
        let (offset, scale) = (expand(&self.offset, 0.0), expand(&self.scale, 1.0));
        let mut out = floats(x)?.into_owned();
        if cols > 0 {
            // The parameters repeated over whole rows to about 256 values,
            // so that the loop is long (rows of 30 were mostly loop
            // overhead, and a deadline check each in wasm).
            let n = out.len();
            let (offset, scale) = (tiled(&offset, cols, n), tiled(&scale, cols, n));
            for chunk in out.chunks_mut(offset.len()) {
                for ((v, o), s) in chunk.iter_mut().zip(&offset[..]).zip(&scale[..]) {
                    *v = (*v - o) * s;
                }
            }
        }
        Ok(vec![Tensor::f32(x.shape.clone(), out).into()])
    }
}

#[derive(Clone, Debug)]
struct ZipMap(Labels);

impl Kernel for ZipMap {
    fn run(&self, inputs: &[Option<&Value>]) -> R<Vec<Value>> {
        let x = tensor(inputs, 0, "X")?;
        let (rows, cols) = x.as_matrix();
        if cols != self.0.len() {
            return Err(format!("{cols} columns for {} labels", self.0.len()));
        }
        let v = floats(x)?;
        let keys = match &self.0 {
            Labels::Ints(l) => Data::I64(l.clone()),
            Labels::Strings(l) => Data::Str(l.clone()),
        };
        let maps = (0..rows)
            .map(|r| Map {
                keys: keys.clone(),
                values: Data::F32(v[r * cols..(r + 1) * cols].to_vec()),
            })
            .collect();
        Ok(vec![Value::Maps(maps)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{AttributeProto, NodeProto};

    #[test]
    fn unknown_labels_get_the_default() {
        let node = NodeProto {
            attribute: vec![
                AttributeProto {
                    name: Some("keys_strings".into()),
                    strings: vec![b"a".to_vec(), b"b".to_vec()],
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("values_int64s".into()),
                    ints: vec![7, 8],
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("default_int64".into()),
                    i: Some(-5),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let k = build("LabelEncoder", &Attrs::of(&node), 2).unwrap();
        let x: Value = Tensor {
            shape: vec![3],
            data: Data::Str(vec!["b".into(), "zzz".into(), "a".into()]),
        }
        .into();
        let out = k.run(&[Some(&x)]).unwrap();
        assert_eq!(out[0], Tensor::i64(vec![3], vec![8, -5, 7]).into());
    }

    #[test]
    fn one_hot_unknown_is_all_zero_or_an_error() {
        let cats = AttributeProto {
            name: Some("cats_strings".into()),
            strings: vec![b"x".to_vec(), b"y".to_vec()],
            ..Default::default()
        };
        let node = NodeProto {
            attribute: vec![cats.clone()],
            ..Default::default()
        };
        let k = build("OneHotEncoder", &Attrs::of(&node), 1).unwrap();
        let x: Value = Tensor {
            shape: vec![2],
            data: Data::Str(vec!["y".into(), "new".into()]),
        }
        .into();
        let out = k.run(&[Some(&x)]).unwrap();
        assert_eq!(
            out[0],
            Tensor::f32(vec![2, 2], vec![0.0, 1.0, 0.0, 0.0]).into()
        );
        let strict = NodeProto {
            attribute: vec![
                cats,
                AttributeProto {
                    name: Some("zeros".into()),
                    i: Some(0),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let k = build("OneHotEncoder", &Attrs::of(&strict), 1).unwrap();
        assert!(
            k.run(&[Some(&x)])
                .unwrap_err()
                .contains("not among the categories")
        );
    }
}
