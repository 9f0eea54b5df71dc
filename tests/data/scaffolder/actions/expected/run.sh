#!/bin/sh
echo orders
