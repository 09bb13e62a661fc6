// Host stand-in for <Foundation/Foundation.h>: only what zerowasm's Metal
// backend uses, with the SDK's signatures, so clang can syntax-check the
// Objective-C++ sources on Linux (tests/test_metal_syntax.py). Never built
// into anything.
#ifndef ZW_HOST_CHECK_FOUNDATION_H
#define ZW_HOST_CHECK_FOUNDATION_H

#include <stdint.h>

typedef unsigned long NSUInteger;
typedef long NSInteger;
typedef bool BOOL;  // arm64 macOS
#define YES __objc_yes
#define NO __objc_no
#define nil nullptr
#define NS_RETURNS_RETAINED __attribute__((ns_returns_retained))
#define NS_RETURNS_INNER_POINTER __attribute__((objc_returns_inner_pointer))
#define NS_ENUM(type, name) enum name : type name; enum name : type
#define NS_OPTIONS(type, name) enum name : type name; enum name : type

__attribute__((objc_root_class))
@interface NSObject
+ (instancetype)alloc;
+ (instancetype)new;
- (instancetype)init;
@end

@protocol NSObject
@end

typedef NSUInteger NSStringEncoding;
enum : NSStringEncoding { NSUTF8StringEncoding = 4 };

@interface NSString : NSObject
+ (instancetype)stringWithUTF8String:(const char*)nullTerminatedCString;
- (instancetype)initWithBytes:(const void*)bytes length:(NSUInteger)len encoding:(NSStringEncoding)encoding;
@property(readonly) const char* UTF8String NS_RETURNS_INNER_POINTER;
@end

@interface NSConstantString : NSString
@end

typedef NSString* NSErrorDomain;

@interface NSDictionary<KeyType, ObjectType> : NSObject
@end

@interface NSError : NSObject
@property(readonly, copy) NSErrorDomain domain;
@property(readonly) NSInteger code;
@property(readonly, copy) NSDictionary<NSString*, id>* userInfo;
@property(readonly, copy) NSString* localizedDescription;
@property(readonly, copy) NSString* localizedFailureReason;
@end

@interface NSArray<__covariant ObjectType> : NSObject
@property(readonly) NSUInteger count;
- (ObjectType)objectAtIndexedSubscript:(NSUInteger)idx;
@end

#endif
