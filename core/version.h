/* core/version.h — the version both daemons report. */
#ifndef H8S_CORE_VERSION_H
#define H8S_CORE_VERSION_H

#define H8S_VERSION "0.1.0"

#endif
