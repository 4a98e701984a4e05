#include "ops/prometheus.hpp"

#include <array>

#include <gtest/gtest.h>

namespace hub2kusto::ops {
namespace {

TEST(PrometheusText, GroupsSamplesUnderOneHelpAndTypePerFamily) {
  PrometheusText m;
  m.counter("a_total", "A things.", {{"partition", "0"}}, 3);
  m.gauge("b", "B level.", {}, 1.5);
  m.counter("a_total", "ignored: the first help wins", {{"partition", "1"}}, 4);
  EXPECT_EQ(m.render(), "# HELP a_total A things.\n"
                        "# TYPE a_total counter\n"
                        "a_total{partition=\"0\"} 3\n"
                        "a_total{partition=\"1\"} 4\n"
                        "# HELP b B level.\n"
                        "# TYPE b gauge\n"
                        "b 1.5\n");
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
  PrometheusText m;
  m.gauge("g", "line one\nback\\slash", {{"connection", "a\"b\\c\nd"}, {"partition", "7"}}, 0);
  EXPECT_EQ(m.render(), "# HELP g line one\\nback\\\\slash\n"
                        "# TYPE g gauge\n"
                        "g{connection=\"a\\\"b\\\\c\\nd\",partition=\"7\"} 0\n");
}

TEST(PrometheusText, LargeCountersStayIntegral) {
  PrometheusText m;
  m.counter("c_total", "C.", {}, 1'234'567'890'123ULL);
  EXPECT_NE(m.render().find("c_total 1234567890123\n"), std::string::npos) << m.render();
}

TEST(PrometheusText, WritesAHistogramAsCumulativeBucketsThenSumAndCount) {
  static constexpr std::array<double, 2> bounds{0.5, 2.5};
  Histogram h(bounds);
  h.observe(0.25);
  h.observe(1);
  h.observe(3);
  PrometheusText m;
  m.histogram("d_seconds", "D.", {{"path", "queued"}}, h.snapshot());
  EXPECT_EQ(m.render(), "# HELP d_seconds D.\n"
                        "# TYPE d_seconds histogram\n"
                        "d_seconds_bucket{path=\"queued\",le=\"0.5\"} 1\n"
                        "d_seconds_bucket{path=\"queued\",le=\"2.5\"} 2\n"
                        "d_seconds_bucket{path=\"queued\",le=\"+Inf\"} 3\n"
                        "d_seconds_sum{path=\"queued\"} 4.25\n"
                        "d_seconds_count{path=\"queued\"} 3\n");
}

} // namespace
} // namespace hub2kusto::ops
