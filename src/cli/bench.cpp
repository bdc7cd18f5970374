// `edgerun bench`: prompt-processing and generation speed of a model on this machine.
#include <cstdio>

#include "cli/common.h"
#include "formats/json_file.h"
#include "runtime/bench.h"

namespace edgerun::cli {

int run_bench(const BenchArgs& a) {
  LoadedModel m = open_model(a.model, LoadOptions{true, false});
  ThreadPool pool(a.threads);
  BenchOptions opt;
  opt.n_prompt = a.n_prompt;
  opt.n_gen = a.n_gen;
  opt.repeats = a.repeats;
  const BenchResult r = run_benchmark(*m.model, pool, opt, [&](const std::string& line) {
    if (!a.json) std::fprintf(stderr, "edgerun bench: %s\n", line.c_str());
  });
  if (a.json) {
    const json j = {{"model", a.model.empty() ? kDefaultModelName : a.model},
                    {"threads", pool.size()},
                    {"n_prompt", a.n_prompt},
                    {"n_gen", a.n_gen},
                    {"repeats", a.repeats},
                    {"pp_tokens_per_s", r.pp_tokens_per_s.mean},
                    {"pp_tokens_per_s_sd", r.pp_tokens_per_s.sd},
                    {"tg_tokens_per_s", r.tg_tokens_per_s.mean},
                    {"tg_tokens_per_s_sd", r.tg_tokens_per_s.sd},
                    {"model_bytes", r.model_bytes},
                    {"machine_bandwidth_bytes_per_s", r.machine_bandwidth},
                    {"achieved_bandwidth_bytes_per_s", r.achieved_bandwidth},
                    {"bandwidth_fraction", r.bandwidth_fraction}};
    std::puts(j.dump().c_str());
    return 0;
  }
  std::printf("model:        %s\n", a.model.empty() ? kDefaultModelName : a.model.c_str());
  std::printf("threads:      %d\n", pool.size());
  if (a.n_prompt > 0)
    std::printf("pp%-5lld      %8.2f ± %.2f tokens/s\n", (long long)a.n_prompt, r.pp_tokens_per_s.mean, r.pp_tokens_per_s.sd);
  if (a.n_gen > 0)
    std::printf("tg%-5lld      %8.2f ± %.2f tokens/s\n", (long long)a.n_gen, r.tg_tokens_per_s.mean, r.tg_tokens_per_s.sd);
  std::printf("bytes/token:  %s\n", format_bytes(double(r.model_bytes)).c_str());
  std::printf("bandwidth:    %.1f GB/s achieved of %.1f GB/s measured (%.0f%%)\n", r.achieved_bandwidth / 1e9,
              r.machine_bandwidth / 1e9, 100 * r.bandwidth_fraction);
  return 0;
}

}  // namespace edgerun::cli
