// Similarity metrics of the dense indexes. Higher is better everywhere:
//   InnerProduct  score = <x, y>
//   L2            score = -||x - y||^2  (negative squared distance)
#pragma once

#include <stdexcept>
#include <string>

namespace winnow::dense {

enum class Metric { InnerProduct, L2 };

inline Metric parse_metric(const std::string& name) {
  if (name == "ip" || name == "inner_product") return Metric::InnerProduct;
  if (name == "l2") return Metric::L2;
  throw std::invalid_argument("unknown metric '" + name + "' (expected ip or l2)");
}

inline std::string metric_name(Metric m) { return m == Metric::InnerProduct ? "ip" : "l2"; }

}  // namespace winnow::dense
