"""distgrad.distributions: torch.distributions' core, built on distgrad ops, so log_prob,
entropy, rsample and KL are differentiable and run where the parameters live.

>>> import distgrad
>>> from distgrad.distributions import Normal
>>> Normal(distgrad.tensor(0.0), 1.0).log_prob(distgrad.tensor(0.5))
tensor(-1.0439)
"""
from ..module_aliases import alias_modules as _alias_modules
from . import constraint_registry, constraints, relaxed, transforms
from .constraint_registry import biject_to, transform_to
from .continuous import Cauchy, Exponential, GeneralizedPareto, Laplace, Normal, Uniform
from .continuous_bernoulli import ContinuousBernoulli
from .derived import (Gumbel, HalfCauchy, HalfNormal, InverseGamma, Kumaraswamy, LogisticNormal,
                      Pareto, Weibull)
from .discrete import (Bernoulli, Binomial, Categorical, Geometric, Multinomial, OneHotCategorical,
                       NegativeBinomial, OneHotCategoricalStraightThrough, Poisson)
from .distribution import Distribution, ExponentialFamily
from .gamma_family import Beta, Chi2, Dirichlet, FisherSnedecor, Gamma, StudentT
from .independent import Independent
from .kl import kl_divergence, register_kl
from .lowrank_multivariate_normal import LowRankMultivariateNormal
from .lkj_cholesky import LKJCholesky
from .mixture_same_family import MixtureSameFamily
from .multivariate_normal import MultivariateNormal
from .relaxed import RelaxedBernoulli, RelaxedOneHotCategorical
from .transformed_distribution import LogNormal, TransformedDistribution
from .von_mises import VonMises
from .wishart import Wishart
from .transforms import (AbsTransform, AffineTransform, CatTransform, ComposeTransform,
                         CorrCholeskyTransform, CumulativeDistributionTransform, ExpTransform,
                         IndependentTransform,
                         LowerCholeskyTransform, PositiveDefiniteTransform, PowerTransform,
                         ReshapeTransform, SigmoidTransform, SoftmaxTransform, SoftplusTransform,
                         StackTransform, StickBreakingTransform, TanhTransform, Transform,
                         identity_transform)

__all__ = ["AbsTransform", "AffineTransform", "Bernoulli", "Beta", "Binomial",
           "CatTransform", "Categorical", "Cauchy", "Chi2", "ComposeTransform",
           "ContinuousBernoulli", "CorrCholeskyTransform",
           "CumulativeDistributionTransform", "Dirichlet", "Distribution",
           "ExpTransform", "Exponential", "ExponentialFamily", "FisherSnedecor",
           "Gamma", "GeneralizedPareto", "Geometric", "Gumbel", "HalfCauchy",
           "HalfNormal", "Independent", "IndependentTransform", "InverseGamma",
           "Kumaraswamy", "LKJCholesky", "Laplace", "LogNormal", "LogisticNormal",
           "LowRankMultivariateNormal", "LowerCholeskyTransform", "MixtureSameFamily",
           "Multinomial", "MultivariateNormal", "NegativeBinomial", "Normal",
           "OneHotCategorical", "OneHotCategoricalStraightThrough", "Pareto", "Poisson",
           "PositiveDefiniteTransform", "PowerTransform", "RelaxedBernoulli",
           "RelaxedOneHotCategorical", "ReshapeTransform", "SigmoidTransform",
           "SoftmaxTransform", "SoftplusTransform", "StackTransform",
           "StickBreakingTransform", "StudentT", "TanhTransform", "Transform",
           "TransformedDistribution", "Uniform", "VonMises", "Weibull", "Wishart", "biject_to", "constraints",
           "kl_divergence", "register_kl", "transform_to", "transforms"]

# torch's module paths (`from torch.distributions.normal import Normal`)
_alias_modules(__name__, {
    "bernoulli": ["Bernoulli"], "beta": ["Beta"], "binomial": ["Binomial"],
    "categorical": ["Categorical"], "cauchy": ["Cauchy"], "chi2": ["Chi2"],
    "dirichlet": ["Dirichlet"], "exp_family": ["ExponentialFamily"],
    "exponential": ["Exponential"], "fishersnedecor": ["FisherSnedecor"], "gamma": ["Gamma"],
    "generalized_pareto": ["GeneralizedPareto"], "geometric": ["Geometric"],
    "gumbel": ["Gumbel"], "half_cauchy": ["HalfCauchy"], "half_normal": ["HalfNormal"],
    "inverse_gamma": ["InverseGamma"], "kumaraswamy": ["Kumaraswamy"], "laplace": ["Laplace"],
    "log_normal": ["LogNormal"], "logistic_normal": ["LogisticNormal"],
    "multinomial": ["Multinomial"], "negative_binomial": ["NegativeBinomial"],
    "normal": ["Normal"], "one_hot_categorical": ["OneHotCategorical",
                                                  "OneHotCategoricalStraightThrough"],
    "pareto": ["Pareto"], "poisson": ["Poisson"],
    "relaxed_bernoulli": ["RelaxedBernoulli", "LogitRelaxedBernoulli"],
    "relaxed_categorical": ["RelaxedOneHotCategorical", "ExpRelaxedCategorical"],
    "studentT": ["StudentT"], "uniform": ["Uniform"], "weibull": ["Weibull"]},
    sources=(relaxed,))
