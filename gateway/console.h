/* console.h -- GET /admin/ui/: the web console, static files embedded in the binary. */
#ifndef HOOKGATE_CONSOLE_H
#define HOOKGATE_CONSOLE_H

#include <h2o.h>

/* The h2o handler for /admin/ui: "/admin/ui" redirects to "/admin/ui/", which serves the
 * console's page; "/admin/ui/<file>" serves its other files. GET and HEAD only. Without
 * admin_token only loopback clients are served (as the admin API does); with it the files
 * are served to anyone, since they hold no data and the page must load to ask for the
 * token. Register it before "/admin", whose prefix also matches. Loop thread. */
int console_on_req(h2o_handler_t *self, h2o_req_t *req);

#endif
