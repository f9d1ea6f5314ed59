// The Scheduler's latency histograms (SchedulerStats, include/infer/scheduler.h): made with
// their bucket bounds, then observed.
#ifndef INFER_ENGINE_HISTOGRAM_H_
#define INFER_ENGINE_HISTOGRAM_H_

#include <algorithm>
#include <utility>
#include <vector>

#include "infer/scheduler.h"

namespace infer {

// A histogram with the given upper bounds, ascending (and one bucket above them).
inline Histogram MakeHistogram(std::vector<double> bounds) {
  Histogram h;
  h.counts.assign(bounds.size() + 1, 0);
  h.bounds = std::move(bounds);
  return h;
}

// Counts `v` in the first bucket whose bound is >= v.
inline void Observe(Histogram& h, double v) {
  const size_t i = std::lower_bound(h.bounds.begin(), h.bounds.end(), v) - h.bounds.begin();
  ++h.counts[i];
  h.sum += v;
  ++h.count;
}

}  // namespace infer

#endif  // INFER_ENGINE_HISTOGRAM_H_
