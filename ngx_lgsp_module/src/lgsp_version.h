#ifndef LGSP_VERSION_H
#define LGSP_VERSION_H

#define LGSP_VERSION  "0.1.0"

#endif /* LGSP_VERSION_H */
