/* runtime.h -- process-wide state shared by the threads: the config in force (swapped
 * on SIGHUP) and the clock. */
#ifndef HOOKGATE_RUNTIME_H
#define HOOKGATE_RUNTIME_H

#include <stdint.h>

#include "config/config.h"

/* The config in force. The pointer stays valid until rt_config_free_all (old configs
 * are retired, not freed, when a new one is installed), so a thread may keep using the
 * one it loaded for the duration of a request or a delivery. Any thread. */
const cfg_t *rt_config(void);
/* Installs cfg (ownership passes to the runtime). Any thread. */
void rt_config_install(cfg_t *cfg);
/* Frees every config ever installed; at exit, after all threads stopped. */
void rt_config_free_all(void);

/* Wall-clock unix time in ms (CLOCK_REALTIME) and a monotonic ms clock. */
int64_t rt_now_ms(void);
int64_t rt_mono_ms(void);

#endif
