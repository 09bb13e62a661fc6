// Host stand-in for Apple's <TargetConditionals.h> (syntax checks only).
#ifndef ZW_HOST_CHECK_TARGET_CONDITIONALS_H
#define ZW_HOST_CHECK_TARGET_CONDITIONALS_H
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#endif
