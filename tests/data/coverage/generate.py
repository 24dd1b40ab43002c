#!/usr/bin/env python3
"""Generate the converter-coverage conformance corpus in tests/data/coverage/.

Run from the repository root with the pinned environment plus its coverage
extras (XGBoost, LightGBM, CatBoost, onnxmltools):

    PY="$(scripts/pyenv.sh --coverage | tail -n1)"
    OMP_NUM_THREADS=1 "$PY" tests/data/coverage/generate.py

It rewrites every NAME.* file and manifest.json in this directory (files of
models that are no longer produced are removed first). One entry per model in
skl2onnx's list of supported scikit-learn models
(skl2onnx._supported_operators.sklearn_operator_name_map), a few variants, a
few scikit-learn models skl2onnx has no converter for, and XGBoost, LightGBM
(converted with onnxmltools) and CatBoost (its own ONNX export). Each model
NAME that converts gets NAME.onnx, NAME.train.jsonl, NAME.inputs.jsonl and
NAME.expected.jsonl; manifest.json lists every entry, including the ones
whose converter fails or that are not classifiers or regressors. README.md
describes the files. The output is deterministic for the pinned versions
(seed 12345).
"""

import glob
import json
import math
import os
import re
import sys
import tempfile
import time
import warnings
import zlib

# skl2onnx fills some lists (opset imports, local functions) from sets of
# strings, whose order depends on Python's string hashing: fix the hash seed
# so that the .onnx files are byte-for-byte reproducible.
if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pandas as pd  # noqa: E402
import skl2onnx  # noqa: E402
import sklearn  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx._supported_operators import sklearn_operator_name_map  # noqa: E402
from skl2onnx.common.data_types import (  # noqa: E402
    DictionaryType,
    FloatTensorType,
    StringTensorType,
)
from skl2onnx.sklapi import CastRegressor, CastTransformer, ReplaceTransformer  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.cluster import KMeans, MiniBatchKMeans  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.cross_decomposition import PLSRegression  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.decomposition import PCA, IncrementalPCA, KernelPCA, TruncatedSVD  # noqa: E402
from sklearn.discriminant_analysis import (  # noqa: E402
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.ensemble import (  # noqa: E402
    AdaBoostClassifier,
    AdaBoostRegressor,
    BaggingClassifier,
    BaggingRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
    RandomTreesEmbedding,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.feature_extraction import DictVectorizer, FeatureHasher  # noqa: E402
from sklearn.feature_extraction.text import (  # noqa: E402
    CountVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.feature_selection import (  # noqa: E402
    RFE,
    RFECV,
    GenericUnivariateSelect,
    SelectFdr,
    SelectFpr,
    SelectFromModel,
    SelectFwe,
    SelectKBest,
    SelectPercentile,
    VarianceThreshold,
    f_classif,
    f_regression,
)
from sklearn.gaussian_process import (  # noqa: E402
    GaussianProcessClassifier,
    GaussianProcessRegressor,
)
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel  # noqa: E402
from sklearn.impute import KNNImputer, MissingIndicator, SimpleImputer  # noqa: E402
from sklearn.isotonic import IsotonicRegression  # noqa: E402
from sklearn.kernel_approximation import Nystroem, RBFSampler  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sklearn.linear_model import (  # noqa: E402
    ARDRegression,
    BayesianRidge,
    ElasticNet,
    ElasticNetCV,
    GammaRegressor,
    HuberRegressor,
    Lars,
    LarsCV,
    Lasso,
    LassoCV,
    LassoLars,
    LassoLarsCV,
    LassoLarsIC,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    MultiTaskElasticNet,
    MultiTaskElasticNetCV,
    MultiTaskLasso,
    MultiTaskLassoCV,
    OrthogonalMatchingPursuit,
    OrthogonalMatchingPursuitCV,
    PassiveAggressiveClassifier,
    PassiveAggressiveRegressor,
    Perceptron,
    PoissonRegressor,
    QuantileRegressor,
    RANSACRegressor,
    Ridge,
    RidgeClassifier,
    RidgeClassifierCV,
    RidgeCV,
    SGDClassifier,
    SGDOneClassSVM,
    SGDRegressor,
    TheilSenRegressor,
    TweedieRegressor,
)
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture  # noqa: E402
from sklearn.model_selection import GridSearchCV, TunedThresholdClassifierCV  # noqa: E402
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier  # noqa: E402
from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor  # noqa: E402
from sklearn.naive_bayes import (  # noqa: E402
    BernoulliNB,
    CategoricalNB,
    ComplementNB,
    GaussianNB,
    MultinomialNB,
)
from sklearn.neighbors import (  # noqa: E402
    KNeighborsClassifier,
    KNeighborsRegressor,
    KNeighborsTransformer,
    LocalOutlierFactor,
    NearestCentroid,
    NearestNeighbors,
    NeighborhoodComponentsAnalysis,
    RadiusNeighborsClassifier,
    RadiusNeighborsRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import FeatureUnion, Pipeline  # noqa: E402
from sklearn.preprocessing import (  # noqa: E402
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    KernelCenterer,
    LabelBinarizer,
    LabelEncoder,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
    TargetEncoder,
)
from sklearn.random_projection import GaussianRandomProjection  # noqa: E402
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR, NuSVC, NuSVR, OneClassSVM  # noqa: E402
from sklearn.tree import (  # noqa: E402
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ExtraTreeClassifier,
    ExtraTreeRegressor,
)

try:  # the coverage extras (scripts/pyenv.sh --coverage)
    import catboost
    import lightgbm
    import onnxmltools
    import xgboost
except ImportError as e:  # pragma: no cover - environment problem
    raise SystemExit(
        f"{e}: run with the coverage extras: "
        'PY="$(scripts/pyenv.sh --coverage | tail -n1)"'
    )

# Deprecated-but-present estimators and parameters (SVC(probability=True),
# PassiveAggressive*, ...) are used on purpose; convergence warnings of the
# deliberately tiny fits are noise here.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=RuntimeWarning)
warnings.filterwarnings("ignore", module=r"sklearn\.")

SEED = 12345
N_TRAIN_MAX = 300
N_HELDOUT = 40
MAX_ONNX_BYTES = 300 * 1024
MAX_DIR_BYTES = 12 * 1024 * 1024
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# onnxmltools 1.16 (through onnxconverter-common) supports opsets up to 15;
# its tree converters then import ai.onnx.ml 1..3 as they need.
ONNXMLTOOLS_OPSET = 15
# scikit-learn vs onnxruntime: beyond these the converter is reported as
# disagreeing (float32 inference alone stays orders of magnitude below).
DISAGREE_ABS_PROBA = 1e-3
DISAGREE_REL = 1e-3
OUT_DIR = os.path.dirname(os.path.abspath(__file__))

SKL2ONNX = f"skl2onnx {skl2onnx.__version__}"
ONNXMLTOOLS = f"onnxmltools {onnxmltools.__version__}"
CATBOOST = f"catboost {catboost.__version__}"


# --------------------------------------------------------------------------
# data
#
# Every data set is shuffled with a seed derived from SEED and its name: the
# first N_HELDOUT rows are held out, the next (up to) N_TRAIN_MAX rows are
# the training rows. Feature names are f0..fN for the bundled numeric data
# sets; the synthetic tables have named columns.


def _seed(*parts):
    return (SEED + zlib.crc32("/".join(map(str, parts)).encode())) % (2**31)


class Data:
    """What one model is trained and evaluated on.

    form: 'matrix' (one float input [N, F] named `input`), 'columns' (one
    [N, 1] input per column, float32 or string), or 'map' (one ONNX
    map(string, float) per row).
    """

    def __init__(self, name, form, X_tr, y_tr, X_te, names, kinds=None, desc=""):
        self.name = name
        self.form = form
        self.X_tr = X_tr
        self.y_tr = y_tr
        self.X_te = X_te
        self.names = names
        self.kinds = kinds or {n: "float" for n in names}
        self.desc = desc
        # Set for data whose ONNX input differs from what the Python model
        # predicts on (LightGBM with pandas categories).
        self.onnx_X_te = None
        self.rows_tr = None
        self.rows_te = None
        self.extra = {}


def _split_idx(n, key):
    order = np.random.RandomState(_seed("split", key)).permutation(n)
    return order[N_HELDOUT : N_HELDOUT + N_TRAIN_MAX], order[:N_HELDOUT]


def _with_missing(X, rate, key):
    rng = np.random.RandomState(_seed("missing", key))
    X = X.copy()
    X[rng.uniform(size=X.shape) < rate] = np.nan
    return X


def _bundled(name):
    if name == "iris":
        X, y = load_iris(return_X_y=True)
        desc = "iris (150 rows, 4 features, 3 classes)"
    elif name == "wine":
        X, y = load_wine(return_X_y=True)
        desc = "wine (178 rows, 13 features, 3 classes)"
    elif name == "bc10":
        X, y = load_breast_cancer(return_X_y=True)
        X = X[:, :10]
        desc = "breast cancer, first 10 features (the means), 2 classes"
    elif name == "bc10_str":
        X, y = load_breast_cancer(return_X_y=True)
        X = X[:, :10]
        y = np.array(["malignant", "benign"], dtype=object)[y]
        desc = "breast cancer, first 10 features, labels 'malignant'/'benign'"
    elif name == "diabetes":
        X, y = load_diabetes(return_X_y=True, scaled=False)
        desc = "diabetes (scaled=False, 10 features, regression)"
    elif name == "digits":
        X, y = load_digits(return_X_y=True)
        desc = "digits (8x8 pixel counts 0..16, 64 features, 10 classes)"
    else:
        raise ValueError(name)
    return np.asarray(X, dtype=np.float64), y, desc


def matrix_data(name, missing=0.0):
    X, y, desc = _bundled(name)
    tr, te = _split_idx(len(X), name)
    X_tr, y_tr, X_te = X[tr], y[tr], X[te]
    if missing > 0:
        X_tr = _with_missing(X_tr, missing, f"{name}/{missing}/train")
        X_te = _with_missing(X_te, missing, f"{name}/{missing}/heldout")
        desc += f"; {missing:.0%} of values set to NaN (training and held-out)"
    names = [f"f{i}" for i in range(X.shape[1])]
    return Data(name, "matrix", X_tr, y_tr, X_te, names, desc=desc)


CHURN_NUM = ["age", "income", "tenure_months", "support_calls"]
CHURN_CAT = ["plan", "region", "device"]


def churn_table(target):
    """A synthetic customer table: 4 numeric columns (NaN in income and
    tenure_months), 3 string columns ('' = missing in region and device),
    unseen categories in some held-out rows. target: 'churn' (labels
    'churn'/'stay'), 'tier' (labels 'bronze'/'silver'/'gold') or 'spend'
    (regression)."""
    n = N_HELDOUT + N_TRAIN_MAX
    rng = np.random.RandomState(_seed("churn"))
    age = rng.randint(18, 80, n).astype(float)
    income = np.round(rng.lognormal(10.8, 0.45, n), -1)
    tenure = rng.randint(0, 72, n).astype(float)
    calls = rng.poisson(1.5, n).astype(float)
    # object arrays: fixed-width numpy strings would truncate the unseen
    # categories written below
    plan = rng.choice(["basic", "standard", "premium", "family"], n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    region = rng.choice(["north", "south", "east", "west", "central"], n).astype(object)
    device = rng.choice(["android", "ios", "web"], n, p=[0.5, 0.35, 0.15]).astype(object)
    logit = (
        -0.5
        + 0.7 * calls
        - 0.045 * tenure
        + 0.9 * (plan == "basic")
        - 0.6 * (device == "ios")
        + 0.5 * (region == "south")
        - 0.000008 * income
        + rng.normal(0, 0.8, n)
    )
    spend = (
        15
        + 25 * (plan == "premium")
        + 12 * (plan == "family")
        + 6 * (plan == "standard")
        + 0.00012 * income
        + 0.15 * tenure
        + 4 * (device == "web")
        + rng.normal(0, 4, n)
    )
    income[rng.uniform(size=n) < 0.08] = np.nan
    tenure[rng.uniform(size=n) < 0.05] = np.nan
    region = np.where(rng.uniform(size=n) < 0.06, "", region).astype(object)
    device = np.where(rng.uniform(size=n) < 0.04, "", device).astype(object)
    # unseen categories, only in the held-out rows (the first N_HELDOUT)
    region[[0, 7, 13, 21, 30]] = "antarctica"
    device[[2, 11, 25]] = "smart_tv"
    plan[[5, 33]] = "enterprise"
    df = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "tenure_months": tenure,
            "support_calls": calls,
            "plan": plan.astype(object),
            "region": region.astype(object),
            "device": device.astype(object),
        }
    )
    if target == "churn":
        y = np.where(logit > 0, "churn", "stay").astype(object)
        what = "labels 'churn'/'stay'"
    elif target == "tier":
        cuts = np.quantile(spend[N_HELDOUT:], [1 / 3, 2 / 3])
        y = np.array(["bronze", "silver", "gold"], dtype=object)[np.searchsorted(cuts, spend)]
        what = "labels 'bronze'/'silver'/'gold' (spend tertiles)"
    else:
        y = np.round(spend, 2)
        what = "regression target: monthly spend"
    X_te, X_tr = df.iloc[:N_HELDOUT].reset_index(drop=True), df.iloc[N_HELDOUT:].reset_index(drop=True)
    kinds = {c: ("float" if c in CHURN_NUM else "string") for c in df.columns}
    desc = (
        "synthetic customer table (seeded): numeric age, income (8% NaN), "
        "tenure_months (5% NaN), support_calls; string plan, region (6% ''), "
        "device (4% ''); held-out rows include unseen region 'antarctica', "
        f"device 'smart_tv', plan 'enterprise'; {what}"
    )
    return Data(f"churn_{target}", "columns", X_tr, y[N_HELDOUT:], X_te, list(df.columns), kinds, desc)


REVIEW_POS = ["great", "excellent", "love", "fast", "friendly", "perfect", "recommend"]
REVIEW_NEG = ["terrible", "slow", "broken", "refund", "awful", "rude", "never"]
REVIEW_NEU = ["the", "service", "product", "delivery", "was", "and", "price", "staff", "it", "very", "box", "order"]


def reviews():
    """Synthetic short reviews in one string column `text`, labels
    'pos'/'neg'; held-out reviews contain words never seen in training."""
    n = N_HELDOUT + N_TRAIN_MAX
    rng = np.random.RandomState(_seed("reviews"))
    texts, labels = [], []
    for i in range(n):
        k = rng.randint(4, 11)
        pos = rng.uniform() < 0.5
        words = []
        for _ in range(k):
            r = rng.uniform()
            if r < 0.35:
                words.append(rng.choice(REVIEW_POS if pos else REVIEW_NEG))
            elif r < 0.45:
                words.append(rng.choice(REVIEW_NEG if pos else REVIEW_POS))
            else:
                words.append(rng.choice(REVIEW_NEU))
        if i < N_HELDOUT and i % 4 == 0:
            words.insert(rng.randint(0, len(words)), rng.choice(["fantastic", "meh", "dreadful"]))
        if rng.uniform() < 0.2:
            words[0] = words[0].capitalize()
        text = " ".join(words) + rng.choice(["", ".", "!", " !!"])
        texts.append(text)
        labels.append("pos" if pos else "neg")
    df = pd.DataFrame({"text": np.array(texts, dtype=object)})
    y = np.array(labels, dtype=object)
    desc = "synthetic short reviews, one string column `text`, labels 'pos'/'neg'; unseen words in held-out rows"
    return Data(
        "reviews", "columns", df.iloc[N_HELDOUT:].reset_index(drop=True), y[N_HELDOUT:],
        df.iloc[:N_HELDOUT].reset_index(drop=True), ["text"], {"text": "string"}, desc,
    )


IRIS_KEYS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_dicts():
    """Iris as one dict per row (DictVectorizer's input); about 15% of the
    keys are absent (null in the JSON rows; DictVectorizer reads them as 0)."""
    X, y, _ = _bundled("iris")
    tr, te = _split_idx(len(X), "iris_dicts")
    rng = np.random.RandomState(_seed("iris_dicts"))
    drop = rng.uniform(size=X.shape) < 0.15

    def dicts(idx):
        return [
            {k: float(X[i, j]) for j, k in enumerate(IRIS_KEYS) if not drop[i, j]} for i in idx
        ]

    d = Data("iris_dicts", "map", dicts(tr), y[tr], dicts(te), IRIS_KEYS,
             desc="iris as one dict per row, ~15% of keys absent")
    return d


def lgbm_categorical():
    """The churn table for LightGBM: plan and region as pandas category
    columns (training), numbers in the JSON rows and in the ONNX input."""
    base = churn_table("churn")
    cols = CHURN_NUM + ["plan", "region"]
    cats = {}
    frames = {}
    for part, df in (("train", base.X_tr), ("heldout", base.X_te)):
        frames[part] = df[cols].copy()
    codes = {}
    for c in ["plan", "region"]:
        seen = sorted(v for v in set(base.X_tr[c]) if v != "")
        cats[c] = seen
        for part in ("train", "heldout"):
            vals = frames[part][c].replace("", np.nan)
            frames[part][c] = pd.Categorical(vals, categories=seen)
        # codes for the JSON rows / ONNX input: index in `seen`, NaN for
        # missing, len(seen) for a category not seen in training
        for part, df in (("train", base.X_tr), ("heldout", base.X_te)):
            codes.setdefault(part, {})[c] = np.array(
                [np.nan if v == "" else (seen.index(v) if v in seen else len(seen)) for v in df[c]],
                dtype=np.float64,
            )

    def numeric(part, df):
        out = np.column_stack(
            [df[c].to_numpy(dtype=np.float64) for c in CHURN_NUM] + [codes[part][c] for c in ["plan", "region"]]
        )
        return out

    d = Data("churn_lgbm_categorical", "matrix", frames["train"], base.y_tr, frames["heldout"], cols)
    d.onnx_X_te = numeric("heldout", base.X_te)
    d.rows_tr = _rows_matrix(numeric("train", base.X_tr), cols)
    d.rows_te = _rows_matrix(d.onnx_X_te, cols)
    d.extra["categories"] = cats
    d.desc = (
        base.desc
        + "; for LightGBM plan and region are pandas category columns in training, and "
        "numbers in the JSON rows and the ONNX input: the index of the value in "
        "`categories` (sorted training values), null for missing, len(categories) "
        "for a value not seen in training"
    )
    return d


_DATA_CACHE = {}


def get_data(key):
    if key not in _DATA_CACHE:
        if key.startswith("churn_"):
            d = churn_table(key[len("churn_"):])
        elif key == "strings_churn":
            base = churn_table("churn")
            d = Data("strings_churn", "matrix", base.X_tr[CHURN_CAT].to_numpy(dtype=object), base.y_tr,
                     base.X_te[CHURN_CAT].to_numpy(dtype=object), list(CHURN_CAT),
                     {c: "string" for c in CHURN_CAT},
                     base.desc + "; only the string columns, as one string input [N, 3] ('' = missing)")
        elif key == "reviews":
            d = reviews()
        elif key == "iris_dicts":
            d = iris_dicts()
        elif key == "lgbm_categorical":
            d = lgbm_categorical()
        elif "+nan" in key:
            base, rate = key.split("+nan")
            d = matrix_data(base, int(rate) / 100.0)
        else:
            d = matrix_data(key)
        _DATA_CACHE[key] = d
    return _DATA_CACHE[key]


# --------------------------------------------------------------------------
# the corpus


def scaled(est, scaler=None):
    return Pipeline([("scale", scaler or StandardScaler()), ("est", est)])


def lr(**kw):
    return LogisticRegression(max_iter=2000, **kw)


def churn_pre(cat_encoder=None, scale=True):
    """The per-column preprocessing used by the categorical pipelines."""
    num = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        num.append(("scale", StandardScaler()))
    return ColumnTransformer(
        [
            ("num", Pipeline(num), CHURN_NUM),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(missing_values="", strategy="constant", fill_value="missing")),
                        ("encode", cat_encoder or OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                CHURN_CAT,
            ),
        ]
    )


class Spec:
    def __init__(self, name, estimator, task, data, build=None, *, kind="skl2onnx",
                 status=None, note=None, y2d=False, classes=None, output=None,
                 score_ref=None, score_desc=None, n_train=None, opset=None):
        self.name = name
        self.estimator = estimator  # class (or dotted name)
        self.task = task
        self.data = data
        self.build = build
        self.kind = kind
        self.status = status  # fixed status for entries without a model
        self.note = note
        self.y2d = y2d
        self.classes = classes
        self.output = output
        self.score_ref = score_ref
        self.score_desc = score_desc
        self.n_train = n_train  # fewer training rows than the data set has
        self.opset = opset  # a target opset other than TARGET_OPSET


def transform_ref(model, X):
    return model.transform(X)


def specs():
    C, R = "classification", "regression"
    S = []

    def add(*a, **kw):
        S.append(Spec(*a, **kw))

    # ---- linear classifiers
    add("logistic_regression", LogisticRegression, C, "wine", lambda: scaled(lr()))
    add("logistic_regression_binary", LogisticRegression, C, "bc10_str", lambda: scaled(lr(C=0.5)))
    add("logistic_regression_cv", LogisticRegressionCV, C, "iris", lambda: scaled(LogisticRegressionCV(cv=3, max_iter=2000)))
    add("sgd_classifier_log", SGDClassifier, C, "bc10", lambda: scaled(SGDClassifier(loss="log_loss", random_state=SEED)))
    add("sgd_classifier_modified_huber", SGDClassifier, C, "iris", lambda: scaled(SGDClassifier(loss="modified_huber", random_state=SEED)),
        note="modified_huber probabilities are clipped, so several rows have tied top probabilities; "
             "scikit-learn's predict takes the argmax of decision_function, onnxruntime's label is the first "
             "argmax of the probabilities (every differing row has a tie)")
    add("sgd_classifier_hinge", SGDClassifier, C, "wine", lambda: scaled(SGDClassifier(loss="hinge", random_state=SEED)))
    add("perceptron", Perceptron, C, "wine", lambda: scaled(Perceptron(random_state=SEED)))
    add("passive_aggressive_classifier", PassiveAggressiveClassifier, C, "bc10", lambda: scaled(PassiveAggressiveClassifier(random_state=SEED)))
    add("ridge_classifier", RidgeClassifier, C, "iris", lambda: scaled(RidgeClassifier()))
    add("ridge_classifier_cv", RidgeClassifierCV, C, "bc10", lambda: scaled(RidgeClassifierCV(alphas=[0.1, 1.0, 10.0])))
    add("linear_svc", LinearSVC, C, "bc10", lambda: scaled(LinearSVC(random_state=SEED)))
    add("nearest_centroid", NearestCentroid, C, "iris", lambda: scaled(NearestCentroid()))
    # ---- SVMs
    add("svc_proba", SVC, C, "wine", lambda: scaled(SVC(probability=True, random_state=SEED)))
    add("svc_scores", SVC, C, "iris", lambda: scaled(SVC()))
    add("svc_scores_binary", SVC, C, "bc10", lambda: scaled(SVC(kernel="poly", degree=2)))
    add("nu_svc", NuSVC, C, "iris", lambda: scaled(NuSVC(probability=True, random_state=SEED)))
    add("nu_svc_scores", NuSVC, C, "bc10", lambda: scaled(NuSVC(nu=0.3)))
    add("svr", SVR, R, "diabetes", lambda: scaled(SVR(C=100.0)))
    add("nu_svr", NuSVR, R, "diabetes", lambda: scaled(NuSVR(C=100.0)))
    add("linear_svr", LinearSVR, R, "diabetes", lambda: scaled(LinearSVR(C=10.0, max_iter=20000, random_state=SEED)))
    add("one_class_svm", OneClassSVM, C, "wine", lambda: scaled(OneClassSVM(nu=0.1)),
        classes=lambda m: ["-1", "1"])
    add("sgd_one_class_svm", SGDOneClassSVM, C, "wine", lambda: scaled(SGDOneClassSVM(nu=0.1, random_state=SEED)),
        classes=lambda m: ["-1", "1"])
    # ---- linear regressors
    add("linear_regression", LinearRegression, R, "diabetes", lambda: LinearRegression())
    add("ridge", Ridge, R, "diabetes", lambda: scaled(Ridge(alpha=1.0)))
    add("ridge_cv", RidgeCV, R, "diabetes", lambda: scaled(RidgeCV(alphas=[0.1, 1.0, 10.0])))
    add("lasso", Lasso, R, "diabetes", lambda: scaled(Lasso(alpha=0.5)))
    add("lasso_cv", LassoCV, R, "diabetes", lambda: scaled(LassoCV(cv=3, random_state=SEED)))
    add("elastic_net", ElasticNet, R, "diabetes", lambda: scaled(ElasticNet(alpha=0.1, l1_ratio=0.5)))
    add("elastic_net_cv", ElasticNetCV, R, "diabetes", lambda: scaled(ElasticNetCV(cv=3, random_state=SEED)))
    add("lars", Lars, R, "diabetes", lambda: scaled(Lars(n_nonzero_coefs=6)))
    add("lars_cv", LarsCV, R, "diabetes", lambda: scaled(LarsCV(cv=3)))
    add("lasso_lars", LassoLars, R, "diabetes", lambda: scaled(LassoLars(alpha=0.1)))
    add("lasso_lars_cv", LassoLarsCV, R, "diabetes", lambda: scaled(LassoLarsCV(cv=3)))
    add("lasso_lars_ic", LassoLarsIC, R, "diabetes", lambda: scaled(LassoLarsIC(criterion="bic")))
    add("orthogonal_matching_pursuit", OrthogonalMatchingPursuit, R, "diabetes", lambda: scaled(OrthogonalMatchingPursuit(n_nonzero_coefs=5)))
    add("orthogonal_matching_pursuit_cv", OrthogonalMatchingPursuitCV, R, "diabetes", lambda: scaled(OrthogonalMatchingPursuitCV(cv=3)))
    add("ard_regression", ARDRegression, R, "diabetes", lambda: scaled(ARDRegression()))
    add("bayesian_ridge", BayesianRidge, R, "diabetes", lambda: scaled(BayesianRidge()))
    add("huber_regressor", HuberRegressor, R, "diabetes", lambda: scaled(HuberRegressor(max_iter=1000)))
    add("ransac_regressor", RANSACRegressor, R, "diabetes", lambda: scaled(RANSACRegressor(LinearRegression(), random_state=SEED)))
    add("theil_sen_regressor", TheilSenRegressor, R, "diabetes", lambda: scaled(TheilSenRegressor(max_subpopulation=500, random_state=SEED)))
    add("quantile_regressor", QuantileRegressor, R, "diabetes", lambda: scaled(QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs")))
    add("sgd_regressor", SGDRegressor, R, "diabetes", lambda: scaled(SGDRegressor(random_state=SEED)))
    add("passive_aggressive_regressor", PassiveAggressiveRegressor, R, "diabetes", lambda: scaled(PassiveAggressiveRegressor(C=0.1, random_state=SEED)))
    add("tweedie_regressor", TweedieRegressor, R, "diabetes", lambda: scaled(TweedieRegressor(power=1.5, link="log", alpha=0.01, max_iter=1000)))
    add("poisson_regressor", PoissonRegressor, R, "diabetes", lambda: scaled(PoissonRegressor(alpha=0.01, max_iter=1000)))
    add("gamma_regressor", GammaRegressor, R, "diabetes", lambda: scaled(GammaRegressor(alpha=0.01, max_iter=1000)))
    add("multi_task_lasso", MultiTaskLasso, R, "diabetes", lambda: scaled(MultiTaskLasso(alpha=0.5)), y2d=True,
        note="fitted on a single-column 2-D target (n, 1); the ONNX output is [N, 1]")
    add("multi_task_lasso_cv", MultiTaskLassoCV, R, "diabetes", lambda: scaled(MultiTaskLassoCV(cv=3, random_state=SEED)), y2d=True,
        note="fitted on a single-column 2-D target (n, 1); the ONNX output is [N, 1]")
    add("multi_task_elastic_net", MultiTaskElasticNet, R, "diabetes", lambda: scaled(MultiTaskElasticNet(alpha=0.1)), y2d=True,
        note="fitted on a single-column 2-D target (n, 1); the ONNX output is [N, 1]")
    add("multi_task_elastic_net_cv", MultiTaskElasticNetCV, R, "diabetes", lambda: scaled(MultiTaskElasticNetCV(cv=3, random_state=SEED)), y2d=True,
        note="fitted on a single-column 2-D target (n, 1); the ONNX output is [N, 1]")
    add("pls_regression", PLSRegression, R, "diabetes", lambda: PLSRegression(n_components=3))
    add("kernel_ridge", KernelRidge, R, "diabetes", lambda: scaled(KernelRidge(alpha=1.0, kernel="rbf")))
    add("isotonic_regression", IsotonicRegression, R, "diabetes",
        lambda: Pipeline([("bmi", ColumnTransformer([("bmi", "passthrough", [2])])), ("est", IsotonicRegression(out_of_bounds="clip"))]))
    # ---- neighbours
    add("k_neighbors_classifier", KNeighborsClassifier, C, "iris", lambda: scaled(KNeighborsClassifier(n_neighbors=5)))
    add("k_neighbors_regressor", KNeighborsRegressor, R, "diabetes", lambda: scaled(KNeighborsRegressor(n_neighbors=7, weights="distance")),
        note="weights='distance'; onnxruntime's values equal scikit-learn's weights='uniform' mean (to 1e-7): "
             "the exported graph drops the distance weighting")
    radius_note = (
        "the graph marks training rows outside the radius with index -1 and feeds them to "
        "ArrayFeatureExtractor, which onnxruntime rejects; it only runs when every training row is "
        "within the radius of every query row (e.g. radius=100 on this data)"
    )
    add("radius_neighbors_classifier", RadiusNeighborsClassifier, C, "iris", lambda: scaled(RadiusNeighborsClassifier(radius=1.5)),
        note=radius_note)
    add("radius_neighbors_regressor", RadiusNeighborsRegressor, R, "diabetes", lambda: scaled(RadiusNeighborsRegressor(radius=3.0)),
        note=radius_note)
    add("local_outlier_factor", LocalOutlierFactor, C, "wine", lambda: scaled(LocalOutlierFactor(n_neighbors=10, novelty=True)),
        classes=lambda m: ["-1", "1"], note="novelty=True, so that predict works on new rows")
    add("nearest_neighbors", NearestNeighbors, None, None,
        status="not a classifier or regressor: NearestNeighbors has neither predict nor transform (only kneighbors)")
    # ---- trees and forests
    add("decision_tree_classifier", DecisionTreeClassifier, C, "wine", lambda: DecisionTreeClassifier(max_depth=5, random_state=SEED))
    add("decision_tree_classifier_missing", DecisionTreeClassifier, C, "bc10+nan10",
        lambda: DecisionTreeClassifier(max_depth=5, random_state=SEED),
        note="trained with NaN in the features (scikit-learn >= 1.3 learns where missing values go); every row "
             "whose label differs has a NaN")
    add("decision_tree_regressor", DecisionTreeRegressor, R, "diabetes", lambda: DecisionTreeRegressor(max_depth=5, random_state=SEED))
    add("extra_tree_classifier", ExtraTreeClassifier, C, "iris", lambda: ExtraTreeClassifier(max_depth=5, random_state=SEED))
    add("extra_tree_regressor", ExtraTreeRegressor, R, "diabetes", lambda: ExtraTreeRegressor(max_depth=6, random_state=SEED))
    add("random_forest_classifier", RandomForestClassifier, C, "bc10_str", lambda: RandomForestClassifier(n_estimators=10, max_depth=6, random_state=SEED))
    add("random_forest_regressor", RandomForestRegressor, R, "diabetes", lambda: RandomForestRegressor(n_estimators=10, max_depth=6, random_state=SEED))
    add("extra_trees_classifier", ExtraTreesClassifier, C, "wine", lambda: ExtraTreesClassifier(n_estimators=10, max_depth=6, random_state=SEED))
    add("extra_trees_regressor", ExtraTreesRegressor, R, "diabetes", lambda: ExtraTreesRegressor(n_estimators=10, max_depth=6, random_state=SEED))
    add("random_trees_embedding", RandomTreesEmbedding, C, "wine",
        note="sparse_output=False: skl2onnx 1.20.0 refuses the default sparse output",
        build=lambda: Pipeline([("embed", RandomTreesEmbedding(n_estimators=5, max_depth=3, sparse_output=False, random_state=SEED)), ("est", lr())]))
    add("isolation_forest", IsolationForest, C, "wine", lambda: IsolationForest(n_estimators=10, random_state=SEED),
        classes=lambda m: ["-1", "1"])
    # ---- boosting
    add("gradient_boosting_classifier", GradientBoostingClassifier, C, "iris",
        lambda: GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=SEED))
    add("gradient_boosting_classifier_binary", GradientBoostingClassifier, C, "bc10",
        lambda: GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=SEED))
    add("gradient_boosting_regressor", GradientBoostingRegressor, R, "diabetes",
        lambda: GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=SEED))
    add("hist_gradient_boosting_classifier", HistGradientBoostingClassifier, C, "bc10+nan10",
        lambda: HistGradientBoostingClassifier(max_iter=20, max_depth=4, random_state=SEED))
    add("hist_gradient_boosting_classifier_multiclass", HistGradientBoostingClassifier, C, "wine+nan10",
        lambda: HistGradientBoostingClassifier(max_iter=10, max_depth=3, random_state=SEED))
    add("hist_gradient_boosting_regressor", HistGradientBoostingRegressor, R, "diabetes+nan10",
        lambda: HistGradientBoostingRegressor(max_iter=20, max_depth=4, random_state=SEED))
    add("hist_gradient_boosting_classifier_categorical", HistGradientBoostingClassifier, C, "churn_churn",
        lambda: Pipeline([
            ("pre", ColumnTransformer([
                ("cat", Pipeline([
                    ("impute", SimpleImputer(missing_values="", strategy="constant", fill_value="missing")),
                    ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
                ]), CHURN_CAT),
                ("num", "passthrough", CHURN_NUM),
            ])),
            ("est", HistGradientBoostingClassifier(max_iter=20, max_depth=4, categorical_features=[0, 1, 2], random_state=SEED)),
        ]),
        note="OrdinalEncoder codes (unknown -> -1) for plan/region/device fed to categorical_features=[0, 1, 2]")
    add("ada_boost_classifier", AdaBoostClassifier, C, "iris",
        lambda: AdaBoostClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=10, random_state=SEED))
    add("ada_boost_regressor", AdaBoostRegressor, R, "diabetes",
        lambda: AdaBoostRegressor(DecisionTreeRegressor(max_depth=3), n_estimators=10, random_state=SEED))
    # ---- meta-estimators
    add("bagging_classifier", BaggingClassifier, C, "bc10",
        lambda: BaggingClassifier(DecisionTreeClassifier(max_depth=4), n_estimators=10, random_state=SEED))
    add("bagging_regressor", BaggingRegressor, R, "diabetes",
        lambda: BaggingRegressor(DecisionTreeRegressor(max_depth=4), n_estimators=10, random_state=SEED))
    add("voting_classifier_soft", VotingClassifier, C, "wine",
        lambda: scaled(VotingClassifier([("lr", lr()), ("nb", GaussianNB()), ("dt", DecisionTreeClassifier(max_depth=3, random_state=SEED))], voting="soft", flatten_transform=False)),
        note="flatten_transform=False: skl2onnx 1.20.0 raises NotImplementedError for the default True")
    add("voting_classifier_hard", VotingClassifier, C, "wine",
        lambda: scaled(VotingClassifier([("lr", lr()), ("nb", GaussianNB()), ("dt", DecisionTreeClassifier(max_depth=3, random_state=SEED))], voting="hard", flatten_transform=False)),
        note="flatten_transform=False: skl2onnx 1.20.0 raises NotImplementedError for the default True",
        score_desc="hard voting has no decision_function in scikit-learn; no `decision` recorded")
    add("voting_regressor", VotingRegressor, R, "diabetes",
        lambda: scaled(VotingRegressor([("lr", LinearRegression()), ("dt", DecisionTreeRegressor(max_depth=4, random_state=SEED)), ("knn", KNeighborsRegressor())])))
    add("stacking_classifier", StackingClassifier, C, "bc10_str",
        lambda: scaled(StackingClassifier([("lr", lr()), ("dt", DecisionTreeClassifier(max_depth=3, random_state=SEED))], final_estimator=lr(), cv=3)))
    add("stacking_regressor", StackingRegressor, R, "diabetes",
        lambda: scaled(StackingRegressor([("ridge", Ridge()), ("dt", DecisionTreeRegressor(max_depth=4, random_state=SEED))], final_estimator=Ridge(), cv=3)))
    add("calibrated_classifier_cv_sigmoid", CalibratedClassifierCV, C, "bc10",
        lambda: scaled(CalibratedClassifierCV(LinearSVC(random_state=SEED), method="sigmoid", cv=3)))
    add("calibrated_classifier_cv_isotonic", CalibratedClassifierCV, C, "wine",
        lambda: scaled(CalibratedClassifierCV(lr(), method="isotonic", cv=3)))
    add("calibrated_classifier_cv_isotonic_nb", CalibratedClassifierCV, C, "iris",
        lambda: CalibratedClassifierCV(GaussianNB(), method="isotonic", cv=3),
        note="isotonic calibration of GaussianNB, whose probabilities reach 1e-240")
    add("one_vs_rest_classifier", OneVsRestClassifier, C, "wine", lambda: scaled(OneVsRestClassifier(lr())))
    add("one_vs_one_classifier", OneVsOneClassifier, C, "iris", lambda: scaled(OneVsOneClassifier(LinearSVC(random_state=SEED))))
    add("multi_output_classifier", MultiOutputClassifier, C, "iris", lambda: scaled(MultiOutputClassifier(lr())), y2d=True,
        note="fitted on a single-column 2-D target (n, 1); ONNX label is [N, 1] and the probabilities output a sequence of one tensor")
    add("multi_output_regressor", MultiOutputRegressor, R, "diabetes", lambda: scaled(MultiOutputRegressor(Ridge())), y2d=True,
        note="fitted on a single-column 2-D target (n, 1); the ONNX output is [N, 1]")
    add("grid_search_cv", GridSearchCV, C, "wine", lambda: scaled(GridSearchCV(lr(), {"C": [0.1, 1.0, 10.0]}, cv=3)))
    add("tuned_threshold_classifier_cv", TunedThresholdClassifierCV, C, "bc10",
        lambda: scaled(TunedThresholdClassifierCV(lr(), cv=3, random_state=SEED)),
        note="onnxruntime's probabilities match, but its labels follow a 0.5 threshold instead of the tuned "
             "best_threshold_ (~0.657)")
    add("constant_predictor", "sklearn.multiclass._ConstantPredictor", None, None,
        status="not a classifier or regressor: private helper OneVsRestClassifier puts in place of a "
               "binary problem whose labels are constant (multilabel fits); not a model on its own")
    # ---- naive Bayes, discriminant analysis, neural nets, Gaussian processes
    add("gaussian_nb", GaussianNB, C, "iris", lambda: GaussianNB())
    add("multinomial_nb", MultinomialNB, C, "digits", lambda: MultinomialNB())
    add("complement_nb", ComplementNB, C, "digits", lambda: ComplementNB())
    add("bernoulli_nb", BernoulliNB, C, "bc10", lambda: scaled(BernoulliNB(binarize=0.0)))
    add("categorical_nb", CategoricalNB, C, "digits", lambda: CategoricalNB(min_categories=17),
        note="pixel counts 0..16 used as categories")
    add("linear_discriminant_analysis", LinearDiscriminantAnalysis, C, "wine", lambda: LinearDiscriminantAnalysis())
    add("quadratic_discriminant_analysis", QuadraticDiscriminantAnalysis, C, "iris", lambda: QuadraticDiscriminantAnalysis(reg_param=0.01))
    add("mlp_classifier", MLPClassifier, C, "iris", lambda: scaled(MLPClassifier(hidden_layer_sizes=(16,), max_iter=1000, random_state=SEED)))
    add("mlp_regressor", MLPRegressor, R, "diabetes",
        lambda: scaled(MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=2000, random_state=SEED)))
    add("gaussian_process_regressor", GaussianProcessRegressor, R, "diabetes",
        lambda: scaled(GaussianProcessRegressor(ConstantKernel() * RBF(length_scale=3.0) + WhiteKernel(), normalize_y=True, random_state=SEED)))
    add("gaussian_process_classifier", GaussianProcessClassifier, C, "bc10",
        lambda: scaled(GaussianProcessClassifier(1.0 * RBF(1.0), random_state=SEED)), n_train=150)
    # ---- clustering and mixtures (label = predict)
    add("k_means", KMeans, C, "iris", lambda: scaled(KMeans(n_clusters=3, n_init=3, random_state=SEED)),
        classes=lambda m: [str(i) for i in range(3)], score_ref=transform_ref,
        score_desc="distances to the cluster centres (scikit-learn's KMeans.transform)")
    add("mini_batch_k_means", MiniBatchKMeans, C, "wine", lambda: scaled(MiniBatchKMeans(n_clusters=3, n_init=3, random_state=SEED)),
        classes=lambda m: [str(i) for i in range(3)], score_ref=transform_ref,
        score_desc="distances to the cluster centres (scikit-learn's MiniBatchKMeans.transform)")
    add("gaussian_mixture", GaussianMixture, C, "iris", lambda: scaled(GaussianMixture(n_components=3, random_state=SEED)),
        classes=lambda m: [str(i) for i in range(3)],
        note="label = predict (component index); predict_proba gives the component posteriors")
    add("bayesian_gaussian_mixture", BayesianGaussianMixture, C, "iris",
        lambda: scaled(BayesianGaussianMixture(n_components=3, max_iter=500, random_state=SEED)),
        classes=lambda m: [str(i) for i in range(3)],
        note="label = predict (component index); predict_proba gives the component posteriors")
    # ---- scalers and other numeric transformers, each before a linear model
    add("standard_scaler", StandardScaler, C, "wine", lambda: Pipeline([("scale", StandardScaler()), ("est", lr())]))
    add("min_max_scaler", MinMaxScaler, C, "wine", lambda: Pipeline([("scale", MinMaxScaler()), ("est", lr())]))
    add("max_abs_scaler", MaxAbsScaler, R, "diabetes", lambda: Pipeline([("scale", MaxAbsScaler()), ("est", Ridge(alpha=0.1))]))
    add("robust_scaler", RobustScaler, C, "bc10", lambda: Pipeline([("scale", RobustScaler()), ("est", lr())]))
    add("normalizer", Normalizer, C, "iris", lambda: Pipeline([("norm", Normalizer(norm="l1")), ("est", lr(C=10.0))]))
    add("binarizer", Binarizer, C, "bc10", lambda: Pipeline([("scale", StandardScaler()), ("bin", Binarizer(threshold=0.0)), ("est", lr())]))
    add("polynomial_features", PolynomialFeatures, R, "diabetes",
        lambda: Pipeline([("scale", StandardScaler()), ("poly", PolynomialFeatures(degree=2, interaction_only=True)), ("est", Ridge(alpha=10.0))]))
    add("kbins_discretizer", KBinsDiscretizer, C, "wine",
        lambda: Pipeline([("bins", KBinsDiscretizer(n_bins=4, encode="onehot-dense", strategy="quantile")), ("est", lr())]))
    add("kbins_discretizer_ordinal", KBinsDiscretizer, R, "diabetes",
        lambda: Pipeline([("bins", KBinsDiscretizer(n_bins=5, encode="ordinal", strategy="uniform")), ("est", LinearRegression())]))
    add("power_transformer", PowerTransformer, C, "wine", lambda: Pipeline([("power", PowerTransformer()), ("est", lr())]))
    add("power_transformer_box_cox", PowerTransformer, R, "diabetes",
        lambda: Pipeline([("power", PowerTransformer(method="box-cox")), ("est", Ridge())]))
    add("quantile_transformer", QuantileTransformer, C, "bc10",
        lambda: Pipeline([("quantile", QuantileTransformer(n_quantiles=50, random_state=SEED)), ("est", lr())]))
    add("spline_transformer", SplineTransformer, R, "diabetes",
        lambda: Pipeline([("spline", SplineTransformer(n_knots=4, degree=3)), ("est", Ridge())]))
    add("function_transformer", FunctionTransformer, C, "iris",
        lambda: Pipeline([("identity", FunctionTransformer()), ("scale", StandardScaler()), ("est", lr())]),
        note="FunctionTransformer() (identity)")
    add("function_transformer_log1p", FunctionTransformer, R, "diabetes",
        lambda: Pipeline([("log", FunctionTransformer(np.log1p)), ("est", Ridge())]))
    add("kernel_centerer", KernelCenterer, None, None,
        status="not a classifier or regressor: KernelCenterer centres a kernel matrix and its fit "
               "requires a square one (n_samples x n_samples); no pipeline over feature rows can use it")
    add("cast_transformer", CastTransformer, C, "wine",
        lambda: Pipeline([("scale", StandardScaler()), ("cast", CastTransformer(dtype=np.float32)), ("est", lr())]))
    add("replace_transformer", ReplaceTransformer, C, "digits",
        lambda: Pipeline([("replace", ReplaceTransformer(from_value=0, to_value=np.nan)),
                          ("impute", SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True)),
                          ("est", lr(C=0.1))]),
        note="pixel value 0 replaced by NaN, then imputed with -1")
    add("cast_regressor", CastRegressor, R, "diabetes", lambda: scaled(CastRegressor(Ridge(), dtype=np.float32)))
    # ---- imputation
    add("simple_imputer", SimpleImputer, C, "bc10+nan10",
        lambda: Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler()), ("est", lr())]))
    add("simple_imputer_add_indicator", SimpleImputer, C, "bc10+nan10",
        lambda: Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler()), ("est", lr())]),
        note="SimpleImputer(add_indicator=True): scikit-learn appends 10 indicator columns; skl2onnx's "
             "converter emits only the 10 imputed ones, so the next step's shape check fails")
    add("knn_imputer", KNNImputer, C, "bc10+nan10",
        lambda: Pipeline([("impute", KNNImputer(n_neighbors=3)), ("scale", StandardScaler()), ("est", lr())]))
    add("knn_imputer_opset18", KNNImputer, C, "bc10+nan10",
        build=lambda: Pipeline([("impute", KNNImputer(n_neighbors=3)), ("scale", StandardScaler()), ("est", lr())]),
        opset={"": 18, "ai.onnx.ml": 3},
        note="converted with target_opset {'': 18, 'ai.onnx.ml': 3}: skl2onnx's KNNImputer converter refuses opset 17")
    add("missing_indicator", MissingIndicator, C, "bc10+nan10",
        lambda: Pipeline([
            ("features", FeatureUnion([("impute", SimpleImputer(strategy="mean")), ("missing", MissingIndicator())])),
            ("scale", StandardScaler()), ("est", lr())]))
    # ---- decomposition, projection, feature selection
    add("pca", PCA, C, "wine", lambda: Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=4, random_state=SEED)), ("est", lr())]))
    add("truncated_svd", TruncatedSVD, C, "digits",
        lambda: Pipeline([("svd", TruncatedSVD(n_components=10, random_state=SEED)), ("est", lr())]))
    add("incremental_pca", IncrementalPCA, R, "diabetes",
        lambda: Pipeline([("scale", StandardScaler()), ("pca", IncrementalPCA(n_components=5, batch_size=100)), ("est", LinearRegression())]))
    add("kernel_pca", KernelPCA, C, "wine",
        lambda: Pipeline([("scale", StandardScaler()), ("kpca", KernelPCA(n_components=5, kernel="rbf", gamma=0.05)), ("est", lr())]))
    add("gaussian_random_projection", GaussianRandomProjection, C, "wine",
        lambda: Pipeline([("scale", StandardScaler()), ("proj", GaussianRandomProjection(n_components=6, random_state=SEED)), ("est", lr())]))
    add("nystroem", Nystroem, C, "wine",
        lambda: Pipeline([("scale", StandardScaler()), ("kernel", Nystroem(n_components=20, random_state=SEED)), ("est", lr())]))
    add("rbf_sampler", RBFSampler, C, "wine",
        lambda: Pipeline([("scale", StandardScaler()), ("kernel", RBFSampler(n_components=20, random_state=SEED)), ("est", lr())]))
    add("neighborhood_components_analysis", NeighborhoodComponentsAnalysis, C, "wine",
        lambda: Pipeline([("scale", StandardScaler()), ("nca", NeighborhoodComponentsAnalysis(n_components=3, random_state=SEED)), ("est", lr())]))
    add("k_neighbors_transformer", KNeighborsTransformer, C, "iris",
        lambda: Pipeline([("scale", StandardScaler()), ("graph", KNeighborsTransformer(n_neighbors=5, mode="distance")), ("est", lr())]))
    add("select_k_best", SelectKBest, C, "wine", lambda: Pipeline([("select", SelectKBest(f_classif, k=5)), ("scale", StandardScaler()), ("est", lr())]))
    add("select_percentile", SelectPercentile, R, "diabetes",
        lambda: Pipeline([("select", SelectPercentile(f_regression, percentile=40)), ("est", LinearRegression())]))
    add("select_fdr", SelectFdr, C, "wine", lambda: Pipeline([("select", SelectFdr(f_classif, alpha=1e-10)), ("scale", StandardScaler()), ("est", lr())]))
    add("select_fpr", SelectFpr, C, "wine", lambda: Pipeline([("select", SelectFpr(f_classif, alpha=1e-12)), ("scale", StandardScaler()), ("est", lr())]))
    add("select_fwe", SelectFwe, C, "wine", lambda: Pipeline([("select", SelectFwe(f_classif, alpha=1e-10)), ("scale", StandardScaler()), ("est", lr())]))
    add("generic_univariate_select", GenericUnivariateSelect, R, "diabetes",
        lambda: Pipeline([("select", GenericUnivariateSelect(f_regression, mode="k_best", param=4)), ("est", LinearRegression())]))
    add("variance_threshold", VarianceThreshold, C, "digits",
        lambda: Pipeline([("select", VarianceThreshold(threshold=1.0)), ("est", lr(C=0.1))]))
    add("rfe", RFE, C, "wine",
        lambda: Pipeline([("scale", StandardScaler()), ("select", RFE(lr(), n_features_to_select=5)), ("est", lr())]))
    add("rfecv", RFECV, R, "diabetes",
        lambda: Pipeline([("scale", StandardScaler()), ("select", RFECV(Ridge(), cv=3)), ("est", Ridge())]))
    add("select_from_model", SelectFromModel, R, "diabetes",
        lambda: Pipeline([("scale", StandardScaler()), ("select", SelectFromModel(Lasso(alpha=2.0))), ("est", LinearRegression())]))
    # ---- composition
    add("pipeline", Pipeline, C, "wine",
        lambda: Pipeline([("prep", Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=6, random_state=SEED))])),
                          ("est", lr())]),
        note="a Pipeline nested in a Pipeline")
    add("feature_union", FeatureUnion, C, "wine",
        lambda: Pipeline([("scale", StandardScaler()),
                          ("features", FeatureUnion([("pca", PCA(n_components=3, random_state=SEED)), ("best", SelectKBest(f_classif, k=3))])),
                          ("est", lr())]))
    add("column_transformer", ColumnTransformer, C, "churn_churn", lambda: Pipeline([("pre", churn_pre()), ("est", lr())]),
        note="per-column inputs; median imputation + scaling of the numbers, constant imputation + one-hot (handle_unknown='ignore') of the strings")
    # ---- categorical encoders on the customer table
    add("one_hot_encoder", OneHotEncoder, R, "churn_spend", lambda: Pipeline([("pre", churn_pre()), ("est", Ridge())]))
    add("ordinal_encoder", OrdinalEncoder, C, "churn_tier",
        lambda: Pipeline([("pre", churn_pre(OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))), ("est", lr())]),
        note="OrdinalEncoder(handle_unknown='use_encoded_value', unknown_value=-1)")
    add("target_encoder", TargetEncoder, C, "churn_churn",
        lambda: Pipeline([("pre", churn_pre(TargetEncoder(random_state=SEED))), ("est", lr())]))
    add("feature_hasher", FeatureHasher, C, "strings_churn",
        lambda: Pipeline([("hash", FeatureHasher(n_features=16, input_type="string", dtype=np.float32)), ("est", lr())]),
        note="FeatureHasher(input_type='string', dtype=float32) over the three string columns of each row, one "
             "string input [N, 3] (in a ColumnTransformer on a DataFrame scikit-learn would hash the column "
             "names instead); see feature_hasher_float64 for the default dtype")
    add("feature_hasher_float64", FeatureHasher, C, "strings_churn",
        lambda: Pipeline([("hash", FeatureHasher(n_features=16, input_type="string")), ("est", lr())]),
        note="FeatureHasher's default dtype=float64")
    add("dict_vectorizer", DictVectorizer, C, "iris_dicts",
        lambda: Pipeline([("dict", DictVectorizer(sparse=False)), ("est", lr())]),
        note="input is one map(string, float) per row; onnxruntime was run row by row")
    add("label_encoder", LabelEncoder, None, None,
        status="not a classifier or regressor: a target transformer (fit(y)); it cannot be a step of a "
               "Pipeline or ColumnTransformer, so there is no pipeline to export")
    add("label_binarizer", LabelBinarizer, None, None,
        status="not a classifier or regressor: a target transformer (fit(y)); it cannot be a step of a "
               "Pipeline or ColumnTransformer, so there is no pipeline to export")
    # ---- text
    add("count_vectorizer", CountVectorizer, C, "reviews",
        lambda: Pipeline([("text", ColumnTransformer([("bow", CountVectorizer(), "text")])), ("est", lr())]))
    add("tfidf_vectorizer", TfidfVectorizer, C, "reviews",
        lambda: Pipeline([("text", ColumnTransformer([("tfidf", TfidfVectorizer(ngram_range=(1, 2)), "text")])), ("est", lr())]))
    add("tfidf_transformer", TfidfTransformer, C, "reviews",
        lambda: Pipeline([("text", ColumnTransformer([("bow", Pipeline([("count", CountVectorizer()), ("tfidf", TfidfTransformer())]), "text")])),
                          ("est", lr())]))
    # ---- other libraries
    add("xgb_classifier", "xgboost.XGBClassifier", C, "bc10+nan10",
        lambda: xgboost.XGBClassifier(n_estimators=30, max_depth=4, learning_rate=0.2, n_jobs=1, random_state=SEED),
        kind="xgboost", note="NaN in the features, handled natively by XGBoost")
    add("xgb_classifier_multiclass", "xgboost.XGBClassifier", C, "wine",
        lambda: xgboost.XGBClassifier(n_estimators=20, max_depth=3, learning_rate=0.3, n_jobs=1, random_state=SEED),
        kind="xgboost")
    add("xgb_regressor", "xgboost.XGBRegressor", R, "diabetes",
        lambda: xgboost.XGBRegressor(n_estimators=30, max_depth=4, learning_rate=0.1, n_jobs=1, random_state=SEED),
        kind="xgboost")
    add("lgbm_classifier", "lightgbm.LGBMClassifier", C, "wine",
        lambda: lightgbm.LGBMClassifier(n_estimators=20, num_leaves=15, max_depth=4, min_child_samples=5,
                                        n_jobs=1, deterministic=True, random_state=SEED, verbose=-1),
        kind="lightgbm")
    add("lgbm_classifier_categorical", "lightgbm.LGBMClassifier", C, "lgbm_categorical",
        lambda: lightgbm.LGBMClassifier(n_estimators=30, num_leaves=15, max_depth=5, min_child_samples=5,
                                        min_data_per_group=5, cat_smooth=1.0,
                                        n_jobs=1, deterministic=True, random_state=SEED, verbose=-1),
        kind="lightgbm",
        note="plan and region are pandas category columns in training; see `categories` for the codes in the rows")
    add("lgbm_regressor", "lightgbm.LGBMRegressor", R, "diabetes+nan10",
        lambda: lightgbm.LGBMRegressor(n_estimators=30, num_leaves=15, max_depth=4, min_child_samples=5,
                                       n_jobs=1, deterministic=True, random_state=SEED, verbose=-1),
        kind="lightgbm", note="NaN in the features, handled natively by LightGBM")
    add("catboost_classifier", "catboost.CatBoostClassifier", C, "bc10",
        lambda: catboost.CatBoostClassifier(iterations=30, depth=4, random_seed=SEED, thread_count=1,
                                            verbose=False, allow_writing_files=False),
        kind="catboost")
    add("catboost_classifier_multiclass", "catboost.CatBoostClassifier", C, "iris",
        lambda: catboost.CatBoostClassifier(iterations=30, depth=3, loss_function="MultiClass", random_seed=SEED,
                                            thread_count=1, verbose=False, allow_writing_files=False),
        kind="catboost")
    add("catboost_regressor", "catboost.CatBoostRegressor", R, "diabetes",
        lambda: catboost.CatBoostRegressor(iterations=30, depth=4, random_seed=SEED, thread_count=1,
                                           verbose=False, allow_writing_files=False),
        kind="catboost")
    return S


# --------------------------------------------------------------------------
# output helpers


def num(v):
    """A float for JSON: NaN -> None."""
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return None
    return v


def label_json(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return int(f) if f.is_integer() else f
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, (np.str_, str)):
        return str(v)
    return v


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, allow_nan=False))
            f.write("\n")


def _rows_matrix(X, names):
    return [{n: num(x) for n, x in zip(names, row)} for row in np.asarray(X, dtype=np.float64)]


def rows_json(data, X):
    if data.form == "matrix" and all(k == "string" for k in data.kinds.values()):
        return [{n: (None if v == "" else str(v)) for n, v in zip(data.names, row)} for row in X]
    if data.form == "matrix":
        return _rows_matrix(X, data.names)
    if data.form == "map":
        return [{k: num(d[k]) if k in d else None for k in data.names} for d in X]
    rows = []
    for rec in X.to_dict(orient="records"):
        row = {}
        for c in data.names:
            v = rec[c]
            if data.kinds[c] == "string":
                row[c] = None if v == "" else str(v)
            else:
                row[c] = num(v)
        rows.append(row)
    return rows


def graph_ops(model):
    """Sorted `domain:OpType` of every node, in subgraphs (Scan/Loop/If
    bodies) and local functions too."""
    ops = set()

    def walk(graph):
        for node in graph.node:
            domain = node.domain or "ai.onnx"
            ops.add(f"{domain}:{node.op_type}")
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for g in attr.graphs:
                    walk(g)

    walk(model.graph)
    # bodies of model-local functions (skl2onnx's KNNImputer at opset 18);
    # the call itself is listed as local_domain:NAME
    for f in model.functions:
        walk(f)
    return sorted(ops)


def _type_str(t):
    which = t.WhichOneof("value")
    if which == "tensor_type":
        return f"tensor({onnx.helper.tensor_dtype_to_string(t.tensor_type.elem_type).replace('TensorProto.', '').lower()})"
    if which == "sequence_type":
        return f"seq({_type_str(t.sequence_type.elem_type)})"
    if which == "map_type":
        k = onnx.helper.tensor_dtype_to_string(t.map_type.key_type).replace("TensorProto.", "").lower()
        return f"map({k},{_type_str(t.map_type.value_type)})"
    return which or "?"


def _shape(t):
    if t.WhichOneof("value") != "tensor_type" or not t.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.tensor_type.shape.dim]


def io_desc(values):
    return [{"name": v.name, "type": _type_str(v.type), "shape": _shape(v.type)} for v in values]


def opset_imports(model):
    return dict(sorted((o.domain or "ai.onnx", o.version) for o in model.opset_import))


def ort_session(model_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def with_locale(model, locale):
    """A serialized copy of `model` whose StringNormalizer nodes without a
    locale attribute get `locale`."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    patched = False
    for node in m.graph.node:
        if node.op_type == "StringNormalizer" and not any(a.name == "locale" for a in node.attribute):
            node.attribute.append(onnx.helper.make_attribute("locale", locale))
            patched = True
    return m.SerializeToString(), patched


def public_name(est):
    if isinstance(est, str):
        return est
    mod = est.__module__
    parts = mod.split(".")
    for i in range(1, len(parts) + 1):
        cand = ".".join(parts[:i])
        try:
            m = sys.modules.get(cand) or __import__(cand, fromlist=["_"])
        except ImportError:
            continue
        if getattr(m, est.__name__, None) is est:
            return f"{cand}.{est.__name__}"
    return f"{mod}.{est.__name__}"


def short_error(e):
    if type(e).__name__ == "MissingShapeCalculator":
        m = re.search(r"type '<class '([\w.]+)'>'", str(e))
        what = m.group(1) if m else "a step"
        if m:
            mod, _, cls = what.rpartition(".")
            what = public_name(getattr(sys.modules.get(mod), cls, what))
        return f"skl2onnx {skl2onnx.__version__} has no converter for {what} (MissingShapeCalculator)"
    msg = f"{type(e).__name__}: {e}"
    if e.__cause__ is not None:
        msg += f" (caused by {type(e.__cause__).__name__}: {e.__cause__})"
    msg = re.sub(r"\s+", " ", msg).strip()
    # object reprs carry memory addresses; keep the status reproducible
    msg = re.sub(r" at 0x[0-9a-f]+", "", msg)
    return msg[:300] + ("..." if len(msg) > 300 else "")


def describe(model):
    r = repr(model)
    r = re.sub(r"\s+", " ", r)
    r = re.sub(r" at 0x[0-9a-f]+", "", r)
    return r


# --------------------------------------------------------------------------
# conversion


def initial_types(data):
    if data.form == "matrix":
        if all(k == "string" for k in data.kinds.values()):
            return [("input", StringTensorType([None, len(data.names)]))]
        return [("input", FloatTensorType([None, len(data.names)]))]
    if data.form == "map":
        return [("input", DictionaryType(StringTensorType([1]), FloatTensorType([1])))]
    return [
        (c, StringTensorType([None, 1]) if data.kinds[c] == "string" else FloatTensorType([None, 1]))
        for c in data.names
    ]


def final_step(model):
    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def convert_with_skl2onnx(spec, model, data):
    final = final_step(model)

    def convert(options):
        return convert_sklearn(
            model,
            initial_types=initial_types(data),
            target_opset=spec.opset or TARGET_OPSET,
            options=options,
            # A fixed graph name (skl2onnx otherwise uses a random uuid)
            # keeps the .onnx files byte-for-byte reproducible.
            name=spec.name,
        )

    if spec.task != "classification":
        return convert(None)
    options = {id(final): {"zipmap": False}}
    for _ in range(4):
        try:
            return convert(options)
        except (NameError, RuntimeError, ValueError) as e:
            # Classifiers without probabilities (and clusterers, outlier
            # detectors) have no 'zipmap' option, and skl2onnx 1.20 adds
            # zipmap=True to the options of steps that look like classifiers
            # (RFE, ...) unless they have an option dict of their own. An
            # empty dict for the class named in the error stops that.
            m = re.search(r"Option 'zipmap' not in \[.*?\] for class '(\w+)'", str(e))
            if not m:
                raise
            for obj in _all_estimators(model):
                if type(obj).__name__ == m.group(1):
                    options[id(obj)] = {}
    return convert(options)


def _all_estimators(model):
    out = [model]
    for v in model.get_params(deep=True).values():
        if hasattr(v, "get_params") and not isinstance(v, type):
            out.append(v)
    for v in getattr(model, "steps", []):
        out.append(v[1])
    return out


def convert_with_onnxmltools(spec, model, data):
    from onnxmltools.convert.common.data_types import FloatTensorType as MLFloatTensorType

    types = [("input", MLFloatTensorType([None, len(data.names)]))]
    if spec.kind == "xgboost":
        return onnxmltools.convert_xgboost(model, name=spec.name, initial_types=types, target_opset=ONNXMLTOOLS_OPSET)
    return onnxmltools.convert_lightgbm(
        model, name=spec.name, initial_types=types, target_opset=ONNXMLTOOLS_OPSET, zipmap=False
    )


def convert_with_catboost(spec, model, data):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        model.save_model(
            path,
            format="onnx",
            export_parameters={"onnx_graph_name": spec.name, "onnx_domain": "ai.catboost", "onnx_model_version": 1},
        )
        model = onnx.load(path)
    # CatBoost stamps each export with the training's finish time and a random
    # model guid; drop both so that the file is reproducible.
    keep = [p for p in model.metadata_props if p.key not in ("train_finish_time", "model_guid")]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    return model


# --------------------------------------------------------------------------
# running


def ort_feed(sess, data):
    X = data.onnx_X_te if data.onnx_X_te is not None else data.X_te
    inputs = sess.get_inputs()
    if data.form == "matrix":
        if all(k == "string" for k in data.kinds.values()):
            return [{inputs[0].name: np.asarray(X, dtype=object)}]
        return [{inputs[0].name: np.asarray(X, dtype=np.float32)}]
    if data.form == "map":
        return [{inputs[0].name: {k: np.float32(v) for k, v in d.items()}} for d in X]
    feed = {}
    for c in data.names:
        col = X[c].to_numpy()
        if data.kinds[c] == "string":
            feed[c] = np.array([str(v) for v in col], dtype=object).reshape(-1, 1)
        else:
            feed[c] = col.astype(np.float32).reshape(-1, 1)
    return [feed]


def _as_proba_matrix(out, classes):
    """Second classifier output as an [N, C] float array."""
    if isinstance(out, list):
        if out and isinstance(out[0], dict):  # ZipMap: list of {class: p}
            keys = list(out[0].keys())
            order = []
            for c in classes:
                k = next(k for k in keys if str(label_json(k)) == c)
                order.append(k)
            return np.array([[row[k] for k in order] for row in out], dtype=np.float64), "seq(map) (ZipMap)"
        if out and isinstance(out[0], np.ndarray):  # sequence of tensors
            return np.asarray(out[0], dtype=np.float64), "seq(tensor), first element"
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    return arr, None


def run_ort(sess, data):
    feeds = ort_feed(sess, data)
    results = [sess.run(None, f) for f in feeds]
    if len(results) == 1:
        return results[0]
    # row by row (map inputs): stack each output
    outs = []
    for i in range(len(results[0])):
        parts = [r[i] for r in results]
        outs.append(np.concatenate([np.atleast_1d(np.asarray(p)) for p in parts], axis=0))
    return outs


def max_rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def match_scores(ort_scores, ref):
    """How onnxruntime's scores relate to scikit-learn's decision values.
    Returns (description, max relative error)."""
    ref = np.asarray(ref, dtype=np.float64)
    if ref.ndim == 2 and ref.shape[1] == 1:
        ref = ref[:, 0]
    if ref.ndim == 2:
        return "one column per class, as scikit-learn's", max_rel(ort_scores, ref)
    cands = []
    for j in range(ort_scores.shape[1]):
        cands.append((f"column {j} = scikit-learn's value", max_rel(ort_scores[:, j], ref)))
        cands.append((f"column {j} = minus scikit-learn's value", max_rel(-ort_scores[:, j], ref)))
    desc, err = min(cands, key=lambda c: c[1])
    if ort_scores.shape[1] == 2 and "column" in desc:
        other = 1 - int(desc.split()[1])
        sign = "minus " if "minus" not in desc else ""
        if max_rel(ort_scores[:, other], -ref if sign else ref) <= max(err, 1e-5) * 10 or max_rel(
            ort_scores[:, other], (-1 if sign else 1) * ref
        ) < 1e-3:
            desc += f", column {other} = {sign}scikit-learn's value"
    return desc, err


def process(spec, offset):
    entry = {
        "name": spec.name,
        "estimator": public_name(spec.estimator),
        "converter": {"skl2onnx": SKL2ONNX, "xgboost": ONNXMLTOOLS, "lightgbm": ONNXMLTOOLS, "catboost": CATBOOST}[spec.kind],
        "task": spec.task,
        "classes": None,
        "output": None,
        "ops": None,
        "status": None,
    }
    if spec.build is None:
        entry["status"] = spec.status
        entry["files"] = []
        return entry, None

    data = get_data(spec.data)
    entry["dataset"] = data.desc
    entry["input_form"] = data.form
    if data.extra:
        entry.update(data.extra)
    model = spec.build()
    X_tr, y_tr = data.X_tr, np.asarray(data.y_tr)
    rows_tr = data.rows_tr if data.rows_tr is not None else rows_json(data, data.X_tr)
    if spec.n_train is not None:
        k = spec.n_train
        X_tr = X_tr.iloc[:k] if isinstance(X_tr, pd.DataFrame) else X_tr[:k]
        y_tr, rows_tr = y_tr[:k], rows_tr[:k]
        entry["dataset"] += f"; only the first {k} training rows"
    if spec.y2d:
        y_tr = y_tr.reshape(-1, 1)
    model.fit(X_tr, y_tr)
    entry["pipeline"] = describe(model)
    if spec.note:
        entry["note"] = spec.note

    rows_te = data.rows_te if data.rows_te is not None else rows_json(data, data.X_te)
    X_te = data.X_te
    n = len(rows_te)

    is_clf = spec.task == "classification"
    sk_label = sk_proba = sk_decision = sk_value = None
    if is_clf:
        sk_label = np.asarray(model.predict(X_te))
        if sk_label.ndim == 2:
            sk_label = sk_label[:, 0]
        if spec.classes is not None:
            classes = spec.classes(model)
        else:
            cl = model.classes_
            if isinstance(cl, list):
                cl = cl[0]
            classes = [str(label_json(c)) for c in cl]
        entry["classes"] = classes
        has_proba = hasattr(model, "predict_proba")
        entry["output"] = spec.output or ("probabilities" if has_proba else "scores")
        if entry["output"] == "probabilities":
            sk_proba = model.predict_proba(X_te)
            if isinstance(sk_proba, list):
                sk_proba = sk_proba[0]
            sk_proba = np.asarray(sk_proba, dtype=np.float64)
        else:
            if spec.score_ref is not None:
                sk_decision = np.asarray(spec.score_ref(model, X_te), dtype=np.float64)
            elif hasattr(model, "decision_function"):
                sk_decision = np.asarray(model.decision_function(X_te), dtype=np.float64)
    else:
        sk_value = np.asarray(model.predict(X_te), dtype=np.float64).reshape(n, -1)[:, 0]

    # ---- convert
    try:
        if spec.kind == "skl2onnx":
            onx = convert_with_skl2onnx(spec, model, data)
        elif spec.kind in ("xgboost", "lightgbm"):
            onx = convert_with_onnxmltools(spec, model, data)
        else:
            onx = convert_with_catboost(spec, model, data)
    except Exception as e:  # noqa: BLE001 - recorded in the manifest
        entry["status"] = f"converter fails: {short_error(e)}"
        entry["files"] = []
        return entry, None

    model_bytes = onx.SerializeToString()
    if len(model_bytes) > MAX_ONNX_BYTES:
        raise SystemExit(f"{spec.name}: ONNX model is {len(model_bytes)} bytes (limit {MAX_ONNX_BYTES})")
    entry["ops"] = graph_ops(onx)
    entry["opset_import"] = opset_imports(onx)
    entry["inputs"] = io_desc(onx.graph.input)
    entry["outputs"] = io_desc(onx.graph.output)
    entry["size_bytes"] = len(model_bytes)

    files = {
        f"{spec.name}.onnx": model_bytes,
        f"{spec.name}.train.jsonl": rows_tr,
        f"{spec.name}.inputs.jsonl": rows_te,
    }

    # ---- run onnxruntime
    run_bytes = model_bytes
    if "ai.onnx:StringNormalizer" in entry["ops"]:
        run_bytes, patched = with_locale(onx, "C.UTF-8")
        if patched:
            entry["ort_note"] = (
                "the .onnx file is as the converter wrote it (StringNormalizer without a locale, "
                "which onnxruntime reads as en_US); onnxruntime was run on a copy with "
                "locale='C.UTF-8' so the generator does not need the en_US locale installed "
                "(the same lower-casing for this ASCII text)"
            )
    try:
        sess = ort_session(run_bytes)
        outs = run_ort(sess, data)
    except Exception as e:  # noqa: BLE001 - recorded in the manifest
        entry["status"] = f"onnxruntime cannot run the exported model: {short_error(e)}"
        expected = []
        for i in range(n):
            rec = {"row": i}
            if is_clf:
                rec["label"] = label_json(sk_label[i])
                if sk_proba is not None:
                    rec["proba"] = [float(p) for p in sk_proba[i]]
                elif sk_decision is not None:
                    rec["decision"] = [float(v) for v in np.ravel(sk_decision[i])]
            else:
                rec["value"] = float(sk_value[i])
            expected.append(rec)
        files[f"{spec.name}.expected.jsonl"] = expected
        entry["files"] = sorted(files)
        return entry, files

    expected = []
    disagree = None
    out_names = [o.name for o in sess.get_outputs()]
    # declared output shapes that onnxruntime's answers do not have
    declared = {d["name"]: d["shape"] for d in entry["outputs"]}
    mismatched = []
    for nm, o in zip(out_names, outs):
        want_shape = declared.get(nm)
        if want_shape is None or not isinstance(o, np.ndarray):
            continue
        got = list(o.shape)
        if len(got) != len(want_shape) or any(w is not None and w != g for w, g in zip(want_shape, got)):
            mismatched.append(
                f"{nm!r} declared {['N' if w is None else w for w in want_shape]}, onnxruntime returns {got} for {n} rows"
            )
    if mismatched:
        entry["output_shape_note"] = "; ".join(mismatched)
    want = ("label", "output_label") if is_clf else ("variable", "predictions", "output", "target")
    i_first = next((i for i, nm in enumerate(out_names) if nm in want), 0)
    i_second = None
    if is_clf:
        i_second = next(
            (i for i, nm in enumerate(out_names) if nm in ("probabilities", "output_probability", "probability_tensor", "scores")),
            1 if i_first == 0 else 0,
        )
    used = {i_first, i_second} - {None}
    if len(out_names) > len(used):
        extra = [nm for i, nm in enumerate(out_names) if i not in used]
        entry["output_note"] = (
            f"the graph has {len(out_names)} outputs; {', '.join(map(repr, extra))} "
            f"{'is' if len(extra) == 1 else 'are'} not the prediction (answers read from "
            + (f"{out_names[i_first]!r} and {out_names[i_second]!r})" if is_clf else f"{out_names[i_first]!r})")
        )
    if is_clf:
        ort_label = np.asarray(outs[i_first])
        if ort_label.shape != (n,):
            entry["label_note"] = (
                f"output {out_names[i_first]!r} has shape {list(ort_label.shape)} for {n} rows"
            )
            ort_label = ort_label.reshape(-1)
        second, seq_note = _as_proba_matrix(outs[i_second], entry["classes"])
        out_name = out_names[i_second]
        out_shape = list(second.shape[1:])
        if seq_note:
            entry["output_note"] = f"output {out_name!r} is a {seq_note}"
        mismatches = sum(str(label_json(a)) != str(label_json(b)) for a, b in zip(sk_label, ort_label))
        if entry["output"] == "probabilities":
            err = float(np.max(np.abs(second - sk_proba))) if second.shape == sk_proba.shape else float("inf")
        else:
            if sk_decision is not None:
                how, err = match_scores(second, sk_decision)
                what = spec.score_desc or "decision_function"
                entry["scores"] = {
                    "output": out_name, "index": i_second, "shape": [None] + out_shape,
                    "decision": what, "relation": how,
                }
            else:
                err = None
                entry["scores"] = {
                    "output": out_name, "index": i_second, "shape": [None] + out_shape,
                    "decision": spec.score_desc or "none in scikit-learn",
                }
        entry["vs_scikit_learn"] = {
            "labels": int(mismatches), "of": n,
            "max_error": None if err is None else (err if math.isfinite(err) else "shape mismatch"),
        }
        if mismatches > 0 or (err is not None and not (err <= (DISAGREE_ABS_PROBA if entry["output"] == "probabilities" else DISAGREE_REL))):
            disagree = {"labels": int(mismatches), "of": n, "max_error": entry["vs_scikit_learn"]["max_error"]}
        for i in range(n):
            rec = {"row": i, "label": label_json(sk_label[i])}
            if sk_proba is not None:
                rec["proba"] = [float(p) for p in sk_proba[i]]
            elif sk_decision is not None:
                rec["decision"] = [float(v) for v in np.ravel(sk_decision[i])]
            rec["onnxruntime_label"] = label_json(ort_label[i])
            key = "onnxruntime_proba" if entry["output"] == "probabilities" else "onnxruntime_scores"
            rec[key] = [float(p) for p in second[i]]
            expected.append(rec)
    else:
        ort_value = np.asarray(outs[i_first], dtype=np.float64).reshape(n, -1)
        if ort_value.shape[1] != 1:
            entry["output_note"] = f"regression output has {ort_value.shape[1]} columns; column 0 recorded"
        ort_value = ort_value[:, 0]
        err = max_rel(ort_value, sk_value)
        entry["vs_scikit_learn"] = {"labels": None, "of": n, "max_error": err}
        if not err <= DISAGREE_REL:
            disagree = {"labels": None, "of": n, "max_error": err}
        for i in range(n):
            expected.append({"row": i, "value": float(sk_value[i]), "onnxruntime_value": float(ort_value[i])})
        entry["output"] = "value"
    files[f"{spec.name}.expected.jsonl"] = expected

    if disagree is not None:
        entry["converter_disagrees"] = disagree
        if disagree["labels"] is None:
            entry["status"] = (
                f"converter disagrees with scikit-learn: max relative error {disagree['max_error']:.3g} "
                f"over {n} rows"
            )
        else:
            me = disagree["max_error"]
            me = f"{me:.3g}" if isinstance(me, float) else str(me)
            entry["status"] = (
                f"converter disagrees with scikit-learn: {disagree['labels']} of {n} labels differ, "
                f"max {'probability' if entry['output'] == 'probabilities' else 'score'} error {me}"
            )
    else:
        entry["status"] = "ok"
    entry["files"] = sorted(files)
    return entry, files


def versions():
    import scipy

    return {
        "python": "%d.%d.%d" % sys.version_info[:3],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "onnxmltools": onnxmltools.__version__,
        "xgboost": xgboost.__version__,
        "lightgbm": lightgbm.__version__,
        "catboost": catboost.__version__,
    }


def main():
    t0 = time.perf_counter()
    only = set(sys.argv[1:])
    all_specs = specs()
    names = [s.name for s in all_specs]
    assert len(names) == len(set(names)), "duplicate model names"

    # every class in skl2onnx's sklearn list has an entry
    covered = {public_name(s.estimator) for s in all_specs}
    missing = sorted(
        public_name(c) for c in sklearn_operator_name_map if public_name(c) not in covered
    )
    if missing:
        raise SystemExit(f"no entry for: {missing}")

    if not only:
        for path in glob.glob(os.path.join(OUT_DIR, "*.onnx")) + glob.glob(os.path.join(OUT_DIR, "*.jsonl")):
            os.remove(path)

    manifest = []
    crashed = []
    for offset, spec in enumerate(all_specs):
        if only and spec.name not in only:
            continue
        t = time.perf_counter()
        np.random.seed(SEED)
        try:
            entry, files = process(spec, offset)
        except Exception:  # a bug in this script, not a converter problem
            import traceback

            traceback.print_exc()
            crashed.append(spec.name)
            continue
        for fname, content in (files or {}).items():
            path = os.path.join(OUT_DIR, fname)
            if isinstance(content, bytes):
                with open(path, "wb") as f:
                    f.write(content)
            else:
                write_jsonl(path, content)
        manifest.append(entry)
        print(f"{spec.name}: {entry['status']} ({time.perf_counter() - t:.1f}s)", file=sys.stderr)

    if crashed:
        raise SystemExit(f"generate.py failed on: {crashed}")
    if only:
        print("subset run: manifest.json not written", file=sys.stderr)
        return
    with open(os.path.join(OUT_DIR, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, allow_nan=False)
        f.write("\n")
    with open(os.path.join(OUT_DIR, "versions.json"), "w", encoding="utf-8") as f:
        json.dump({"seed": SEED, "versions": versions()}, f, indent=1)
        f.write("\n")

    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(OUT_DIR, "*")) if os.path.isfile(p))
    if total > MAX_DIR_BYTES:
        raise SystemExit(f"corpus is {total} bytes (limit {MAX_DIR_BYTES})")
    ok = sum(e["status"] == "ok" for e in manifest)
    print(
        f"{len(manifest)} entries, {ok} ok, {total} bytes, {time.perf_counter() - t0:.0f}s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
